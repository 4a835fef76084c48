/* Logging and error reporting shared by every part of the runtime. */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

#include <stdarg.h>

enum { RELAY__LOG_ERROR = 0, RELAY__LOG_WARN = 1, RELAY__LOG_INFO = 2, RELAY__LOG_DEBUG = 3 };

/* Print "[relay T rN host] level: message" to stderr when level <= the
 * configured log level: T the job clock's seconds (clock.h), N the rank
 * ("r?" before relay_init knows it; lines logged before relay_init count
 * from this process's first line, so the times jump once the clock is
 * synced there). Safe from any thread. */
void relay__log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record status and its detail as the calling thread's last error, log it
 * at info level (debug for timeouts), and return status so callers can write
 * `return relay__error(RELAY_ERR_X, "...")` where they first detect it. */
int relay__error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* a, then sep and b (when b is not NULL), as one error message of at
 * most RELAY_MAX_ERROR - 1 bytes: a chain of causes too long loses its
 * middle links (" <- [...] <- " marks where), never its first bytes nor
 * its root cause at the end. Malloc'ed; NULL when out of memory. */
char *relay__errjoin(const char *a, const char *sep, const char *b);

/* Set the calling thread's last error detail without logging. */
void relay__set_last_error(const char *msg);

#endif
