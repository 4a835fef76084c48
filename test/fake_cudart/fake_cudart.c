/* A stand-in CUDA runtime for unit_gpu_cuda, built as a shared library
 * from CUDA's headers: two devices, whose UUIDs are 16 bytes of 0xA0 and
 * of 0xB0. Built with FAKE_CUDART_PARTIAL it lacks cudaSetDevice, like a
 * library that is not the runtime relay needs. */
#include <string.h>

#include <cuda_runtime_api.h>

#define FAKE_DEVICES 2

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = FAKE_DEVICES;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    if (device < 0 || device >= FAKE_DEVICES) return cudaErrorInvalidDevice;
    memset(prop, 0, sizeof *prop);
    memset(prop->uuid.bytes, 0xA0 + 0x10 * device, sizeof prop->uuid.bytes);
    return cudaSuccess;
}

#ifndef FAKE_CUDART_PARTIAL
cudaError_t cudaSetDevice(int device)
{
    return device >= 0 && device < FAKE_DEVICES ? cudaSuccess : cudaErrorInvalidDevice;
}
#endif
