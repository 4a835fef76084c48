/* Status table (generated from RELAY_STATUS_MAP) and per-thread last error. */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "relay.h"

static _Thread_local char last_error[1024];

const char *relay_strerror(int status)
{
    switch (status) {
#define RELAY__STATUS_DESC(name, value, desc)                                                      \
    case value:                                                                                    \
        return desc;
        RELAY_STATUS_MAP(RELAY__STATUS_DESC)
#undef RELAY__STATUS_DESC
    }
    return "unknown status";
}

const char *relay_status_name(int status)
{
    switch (status) {
#define RELAY__STATUS_NAME(name, value, desc)                                                      \
    case value:                                                                                    \
        return "RELAY_" #name;
        RELAY_STATUS_MAP(RELAY__STATUS_NAME)
#undef RELAY__STATUS_NAME
    }
    return "RELAY_UNKNOWN_STATUS";
}

const char *relay_last_error(void)
{
    return last_error;
}

void relay__set_last_error(const char *msg)
{
    snprintf(last_error, sizeof last_error, "%s", msg ? msg : "");
}
