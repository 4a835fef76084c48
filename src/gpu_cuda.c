/* Built with the CUDA runtime: count devices; no device (or no driver)
 * means zero, never an error. */
#include <cuda_runtime_api.h>

#include "gpu.h"

int relay__gpu_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
    return n;
}
