// The CUDA part of relay-gpu-saxpy: the kernel and its launch, callable
// from C. Everything else (memory, devices) uses the CUDA runtime's C API.
#include <cuda_runtime_api.h>

__global__ static void saxpy(int n, float a, const float *x, float *y)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}

// y = a * x + y on the current device; waits for the kernel to finish.
extern "C" cudaError_t saxpy_launch(int n, float a, const float *x, float *y)
{
    saxpy<<<(n + 255) / 256, 256>>>(n, a, x, y);
    cudaError_t e = cudaGetLastError();
    return e != cudaSuccess ? e : cudaDeviceSynchronize();
}
