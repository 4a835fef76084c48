/* Built without the CUDA toolkit: no devices. */
#include "gpu.h"

int relay__gpu_count(void)
{
    return 0;
}
