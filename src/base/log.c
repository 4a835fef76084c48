/* Logging: one line per message to stderr, tagged with the job clock's
 * time (clock.h), the rank and the host, so that the lines of a job's ranks
 * can be merged and sorted:
 *   [relay 12.345678 r3 node17] warning: ...
 */
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "clock.h"
#include "runtime.h"

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* This process's host name, read once: a copy of its own, since the
 * gathered names (relay__rank_host) go away at teardown while a late
 * thread may still log. */
static char host[RELAY__HOST_MAX] = "?";
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

static void read_host(void)
{
    char name[256];
    if (gethostname(name, sizeof name) == 0) {
        name[sizeof name - 1] = '\0';
        snprintf(host, sizeof host, "%.*s", (int)sizeof host - 1, name);
    }
}

static void vlog(int level, const char *fmt, va_list ap)
{
    char line[RELAY_MAX_ERROR + 256];
    vsnprintf(line, sizeof line, fmt, ap);
    pthread_once(&host_once, read_host);
    char rank[16] = "r?"; /* before relay_init has learned it */
    if (relay__g.size > 0) snprintf(rank, sizeof rank, "r%d", relay__g.rank);
    /* One fprintf per line keeps lines of different threads from mixing. */
    fprintf(stderr, "[relay %.6f %s %s] %s: %s\n", relay__clock_now(), rank, host,
            level_names[level], line);
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
