/* Crash reports. On a rank hosting workers, a fatal signal (SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL, SIGABRT) on a thread running a task, actor
 * constructor or method, or exit() called there, writes one line naming
 * the work, its function, the rank, the host and the signal, then a
 * backtrace; the line goes to rank 0 too (CRASH), which prints it and keeps
 * it as the rank's fate; then the process dies as it would have without
 * relay (the previous handlers run). On a thread running no work, a
 * signal the program installed a handler for goes to it, unreported (its
 * runtime may recover). Everything the signal handler writes
 * is prepared before the signal can come: names are copied when the work
 * starts, and the handler only formats integers, calls write(2),
 * backtrace(3) (bounded by an alarm) and nanosleep(2), and waits (at most
 * about a second) for the runtime thread to send its report and rank 0 to
 * acknowledge it. */
#ifndef RELAY_CRASH_H
#define RELAY_CRASH_H

#include <signal.h>
#include <stddef.h>

struct relay_ctx;

/* relay_init, every rank, before the worker pool starts: rank 0 takes
 * CRASH records; a rank hosting workers with crash_report set installs the
 * handlers (the previous actions kept) and an exit hook. */
void relay__crash_init(int hosts_workers);
/* Teardown: the previous actions come back where relay's are still in
 * place (a handler the program installed since stays). */
void relay__crash_fini(void);

/* First and last calls of a thread that runs work (worker, actor): its
 * alternate signal stack, so a stack overflow is reported too. A thread
 * that has one already (a sanitizer's) keeps it. */
void relay__crash_thread_begin(void);
void relay__crash_thread_end(void);

/* The calling thread starts running c (NULL: it stopped). */
void relay__crash_running(const struct relay_ctx *c);

/* ---- async-signal-safe formatting (exposed for the unit test) --------- */

/* Names longer than this (with the NUL) are cut, ending in "...". */
#define RELAY__CRASH_NAME_MAX 64

/* What a report says of the work a thread runs; what is NULL when none. */
typedef struct relay__crash_work {
    const char *what; /* "task", "actor constructor", "actor method" */
    char name[RELAY__CRASH_NAME_MAX], fn[RELAY__CRASH_NAME_MAX];
} relay__crash_work_t;
void relay__crash_work_set(relay__crash_work_t *w, const char *what, const char *name,
                           const char *fn);

/* Text appended into buf (cap bytes, cap >= 1): always NUL-terminated, cut
 * at cap - 1 characters. */
typedef struct relay__crash_text {
    char *buf;
    size_t cap, len;
} relay__crash_text_t;
void relay__crash_put(relay__crash_text_t *t, const char *s);
void relay__crash_put_dec(relay__crash_text_t *t, long long v);
void relay__crash_put_hex(relay__crash_text_t *t, unsigned long long v);
/* "SIGSEGV", ..., or NULL for a signal it does not name. */
const char *relay__crash_signame(int sig);
/* "<who>: task 'n' (function 'f') crashed: SIGSEGV (address 0x0)", the
 * detail in parentheses from si (self: this process's id, to tell a
 * signal it raised from one another process sent). */
void relay__crash_describe_signal(relay__crash_text_t *t, const char *who,
                                  const relay__crash_work_t *w, int sig, const siginfo_t *si,
                                  long self);
/* "<who>: task 'n' (function 'f') called exit(3)" */
void relay__crash_describe_exit(relay__crash_text_t *t, const char *who,
                                const relay__crash_work_t *w, int status);

#endif
