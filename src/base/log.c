/* Logging: one line per message, tagged with the rank, to stderr. */
#include "log.h"

#include <stdio.h>

#include "runtime.h"

static const char *const level_names[] = {"error", "warning", "info", "debug"};

static void vlog(int level, const char *fmt, va_list ap)
{
    char line[RELAY_MAX_ERROR + 256];
    vsnprintf(line, sizeof line, fmt, ap);
    /* One fprintf per line keeps lines of different threads from mixing. */
    fprintf(stderr, "[relay %d] %s: %s\n", relay__g.rank, level_names[level], line);
}

void relay__log(int level, const char *fmt, ...)
{
    if (level > relay__g.cfg.log_level) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

int relay__error(int status, const char *fmt, ...)
{
    char msg[RELAY_MAX_ERROR];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    relay__set_last_error(msg);
    int level = status == RELAY_ERR_TIMEOUT ? RELAY__LOG_DEBUG : RELAY__LOG_INFO;
    if (status == RELAY_ERR_MPI || status == RELAY_ERR_INTERNAL) level = RELAY__LOG_ERROR;
    relay__log(level, "%s: %s", relay_status_name(status), msg);
    return status;
}
