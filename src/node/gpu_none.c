/* Built without the CUDA toolkit: no devices. */
#include "gpu.h"

int relay__gpu_backend_load(const char *const *names)
{
    (void)names;
    return -1;
}

int relay__gpu_backend_count(void)
{
    return 0;
}

int relay__gpu_backend_uuid(int dev, unsigned char uuid[RELAY__GPU_UUID_BYTES])
{
    (void)dev;
    (void)uuid;
    return -1;
}

int relay__gpu_backend_set(int dev)
{
    (void)dev;
    return -1;
}
