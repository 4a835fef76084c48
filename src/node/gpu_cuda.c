/* Built with the CUDA runtime: no device (or no driver) means zero
 * devices, never an error. */
#include <string.h>

#include <cuda_runtime_api.h>

#include "gpu.h"

int relay__gpu_backend_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
    return n;
}

int relay__gpu_backend_uuid(int dev, unsigned char uuid[RELAY__GPU_UUID_BYTES])
{
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, dev) != cudaSuccess) return -1;
    memcpy(uuid, prop.uuid.bytes, RELAY__GPU_UUID_BYTES);
    return 0;
}

int relay__gpu_backend_set(int dev)
{
    cudaError_t e = cudaSetDevice(dev);
    return e == cudaSuccess ? 0 : (int)e;
}
