/* GPU discovery. The core never includes CUDA headers: gpu_cuda.c is built
 * when the toolkit is found, gpu_none.c otherwise. */
#ifndef RELAY_GPU_H
#define RELAY_GPU_H

/* Devices visible to this process (0 without CUDA or without a device). */
int relay__gpu_count(void);

#endif
