/* The process-wide state every part shares, its checks and the clock. */
#include "runtime.h"

#include <time.h>

#include "log.h"

relay__runtime_t relay__g = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .state_cv = PTHREAD_COND_INITIALIZER,
    .cfg = {.log_level = 1},
};

double relay__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int relay__check_on(const char *call)
{
    if (!relay__is_on())
        return relay__error(RELAY_ERR_NOT_INITIALIZED, "%s: relay is not initialized", call);
    return RELAY_OK;
}
