#include "crash.h"

#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "comm.h"
#include "doorbell.h"
#include "log.h"
#include "records.h"
#include "runtime.h"
#include "worker_state.h"

/* How long a crashing thread waits for rank 0 to acknowledge its report:
 * long enough for a loaded machine, short enough that a crash still ends
 * the job at once. */
#define ACK_WAIT_MS 1000
#define BACKTRACE_FRAMES 64
/* The longest the backtrace may take (whole seconds: alarm(2)). */
#define BACKTRACE_LIMIT_S 2
/* Room for the handler, backtrace_symbols_fd and a sanitizer's handler
 * chained after relay's. */
#define ALT_STACK_MIN (128 * 1024)

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define NFATAL (sizeof fatal_signals / sizeof fatal_signals[0])

static struct {
    /* Handlers installed by this relay_init. Atomic: threads relay_finalize
     * abandoned still start and end work after it is cleared. */
    atomic_int enabled;
    int exit_hooked;
    struct sigaction old[NFATAL];
    char who[320]; /* "rank 2 (host vm, pid 1234)" */
    int rank;
    atomic_int claimed; /* a thread writes the report (only one does) */
    atomic_int done;    /* that thread is through */
    atomic_int state;   /* 0, REPORT_READY, REPORT_QUEUED */
    atomic_int acked;   /* rank 0 printed it */
    char report[1024];
} S;
enum { REPORT_READY = 1, REPORT_QUEUED = 2 };

static _Thread_local relay__crash_work_t tls_work;
static _Thread_local int tls_reporting; /* a fault inside the report: just chain */
static _Thread_local int tls_runtime;   /* the runtime thread (it sends reports) */
static _Thread_local void *tls_altstack;

/* ---------------------------------------------------------------------- */
/* Formatting: no stdio, no malloc, no locks                               */
/* ---------------------------------------------------------------------- */

void relay__crash_put(relay__crash_text_t *t, const char *s)
{
    while (*s && t->len + 1 < t->cap)
        t->buf[t->len++] = *s++;
    t->buf[t->len] = '\0';
}

static void put_digits(relay__crash_text_t *t, unsigned long long v, unsigned base)
{
    char d[24];
    int n = 0;
    do {
        d[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    char s[25];
    for (int i = 0; i < n; i++)
        s[i] = d[n - 1 - i];
    s[n] = '\0';
    relay__crash_put(t, s);
}

void relay__crash_put_dec(relay__crash_text_t *t, long long v)
{
    unsigned long long u = (unsigned long long)v;
    if (v < 0) {
        relay__crash_put(t, "-");
        u = 0 - u; /* LLONG_MIN too */
    }
    put_digits(t, u, 10);
}

void relay__crash_put_hex(relay__crash_text_t *t, unsigned long long v)
{
    relay__crash_put(t, "0x");
    put_digits(t, v, 16);
}

const char *relay__crash_signame(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    case SIGTERM:
        return "SIGTERM";
    case SIGKILL:
        return "SIGKILL";
    case SIGINT:
        return "SIGINT";
    case SIGTRAP:
        return "SIGTRAP";
    case SIGSYS:
        return "SIGSYS";
    default:
        return NULL;
    }
}

static void put_signal(relay__crash_text_t *t, int sig)
{
    const char *name = relay__crash_signame(sig);
    if (name) {
        relay__crash_put(t, name);
    } else {
        relay__crash_put(t, "signal ");
        relay__crash_put_dec(t, sig);
    }
}

/* Copy s into d (n bytes), ending in "..." when cut. */
static void copy_name(char *d, size_t n, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len < n) {
        memcpy(d, s ? s : "", len + 1);
        return;
    }
    memcpy(d, s, n - 4);
    memcpy(d + n - 4, "...", 4);
}

void relay__crash_work_set(relay__crash_work_t *w, const char *what, const char *name,
                           const char *fn)
{
    copy_name(w->name, sizeof w->name, name);
    copy_name(w->fn, sizeof w->fn, fn);
    /* A handler on this thread reads the names once what is set. */
    atomic_signal_fence(memory_order_release);
    w->what = what;
}

static void put_work(relay__crash_text_t *t, const char *who, const relay__crash_work_t *w)
{
    relay__crash_put(t, who);
    relay__crash_put(t, ": ");
    relay__crash_put(t, w->what);
    relay__crash_put(t, " '");
    relay__crash_put(t, w->name);
    relay__crash_put(t, "' (function '");
    relay__crash_put(t, w->fn);
    relay__crash_put(t, "')");
}

void relay__crash_describe_signal(relay__crash_text_t *t, const char *who,
                                  const relay__crash_work_t *w, int sig, const siginfo_t *si,
                                  long self)
{
    put_work(t, who, w);
    relay__crash_put(t, " crashed: ");
    put_signal(t, sig);
    if (!si) return;
    if (si->si_code > 0 && sig != SIGABRT) {
        /* The kernel's: a fault at this address. */
        relay__crash_put(t, " (address ");
        relay__crash_put_hex(t, (unsigned long long)(uintptr_t)si->si_addr);
        relay__crash_put(t, ")");
    } else if (si->si_code <= 0 && (long)si->si_pid == self) {
        relay__crash_put(t, sig == SIGABRT ? " (abort() or raised)" : " (raised by the process)");
    } else if (si->si_code <= 0) {
        relay__crash_put(t, " (sent by process ");
        relay__crash_put_dec(t, (long long)si->si_pid);
        relay__crash_put(t, ")");
    }
}

void relay__crash_describe_exit(relay__crash_text_t *t, const char *who,
                                const relay__crash_work_t *w, int status)
{
    put_work(t, who, w);
    relay__crash_put(t, " called exit(");
    relay__crash_put_dec(t, status);
    relay__crash_put(t, ")");
}

/* ---------------------------------------------------------------------- */
/* The report                                                               */
/* ---------------------------------------------------------------------- */

static void write_all(const char *s, size_t n)
{
    while (n) {
        ssize_t k = write(STDERR_FILENO, s, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return;
        s += k;
        n -= (size_t)k;
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Hand S.report to the runtime thread and wait, bounded, for rank 0 to
 * have printed it: once this process dies, mpirun kills the others within
 * about a second, and rank 0 may not have read it yet. */
static void tell_rank0(void)
{
    if (S.rank == 0 || tls_runtime || !relay__is_on()) return;
    atomic_store_explicit(&S.state, REPORT_READY, memory_order_release);
    relay__bell_ring(S.rank);
    for (int i = 0; i < ACK_WAIT_MS && !atomic_load(&S.acked); i++)
        sleep_ms(1);
}

/* backtrace() takes the loader's lock (and libgcc's): were the crashing
 * thread holding one, it would wait for good. An alarm bounds it, SIGALRM
 * at its default action ending the process; the program's SIGALRM action
 * and alarm come back after. */
static void bounded_backtrace(void)
{
    struct sigaction dfl, old;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    if (sigaction(SIGALRM, &dfl, &old) != 0) return;
    sigset_t alrm, was;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &alrm, &was);
    unsigned left = alarm(BACKTRACE_LIMIT_S);
    void *frames[BACKTRACE_FRAMES];
    int n = backtrace(frames, BACKTRACE_FRAMES);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
    alarm(0);
    sigaction(SIGALRM, &old, NULL);
    pthread_sigmask(SIG_SETMASK, &was, NULL);
    if (left) alarm(left);
}

/* "relay: <what happened>\n" into line; tail, when not NULL, before the
 * newline. */
static size_t describe(char *line, size_t n, int sig, const siginfo_t *si, int status,
                       const char *tail)
{
    relay__crash_text_t l = {line, n, 0};
    relay__crash_put(&l, "relay: ");
    relay__crash_text_t t = {line + l.len, n - l.len, 0};
    if (sig)
        relay__crash_describe_signal(&t, S.who, &tls_work, sig, si, (long)getpid());
    else
        relay__crash_describe_exit(&t, S.who, &tls_work, status);
    l.len += t.len;
    if (tail) relay__crash_put(&l, tail);
    relay__crash_put(&l, "\n");
    return l.len;
}

/* Write the report (exit status when sig is 0), once per process: a
 * second thread crashing meanwhile waits for the first to be through, then
 * says one line of its own (no backtrace, no message to rank 0). The line
 * goes to rank 0 before the backtrace is made, so that the backtrace
 * cannot hold it up. */
static void report(int sig, const siginfo_t *si, int status)
{
    char line[sizeof S.report + 64];
    int expected = 0;
    if (!atomic_compare_exchange_strong(&S.claimed, &expected, 1)) {
        for (int i = 0; i < 2 * ACK_WAIT_MS + 1000 * BACKTRACE_LIMIT_S && !atomic_load(&S.done);
             i++)
            sleep_ms(1);
        write_all(line, describe(line, sizeof line, sig, si, status,
                                 ", after another crash in this process (no backtrace)"));
        return;
    }
    size_t n = describe(line, sizeof line, sig, si, status, NULL);
    write_all(line, n);
    /* The report proper: the line without "relay: " and the newline. */
    size_t len = n - strlen("relay: ") - 1;
    if (len >= sizeof S.report) len = sizeof S.report - 1;
    memcpy(S.report, line + strlen("relay: "), len);
    S.report[len] = '\0';
    tell_rank0();
    bounded_backtrace();
    atomic_store(&S.done, 1);
}

static int slot(int sig)
{
    for (size_t i = 0; i < NFATAL; i++)
        if (fatal_signals[i] == sig) return (int)i;
    return -1;
}

/* The process goes on as without relay: the previous action comes back
 * and, a function, runs as the kernel would have run it; the default
 * action is taken again (a fault by returning to the faulting
 * instruction, a raised signal by raising it: it is blocked until this
 * handler returns). */
static int is_function(const struct sigaction *a)
{
    return a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

/* old, a function, run as the kernel runs a handler (its mask until it
 * returns: the return from relay's restores the thread's own). */
static void run_handler(int sig, siginfo_t *si, void *uc, struct sigaction old)
{
    if (old.sa_flags & SA_RESETHAND) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
    }
    sigset_t mask = old.sa_mask;
    if (!(old.sa_flags & SA_NODEFER)) sigaddset(&mask, sig);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    if (old.sa_flags & SA_SIGINFO)
        old.sa_sigaction(sig, si, uc);
    else
        old.sa_handler(sig);
}

static void chain(int sig, siginfo_t *si, void *uc)
{
    int i = slot(sig);
    if (i < 0) return;
    struct sigaction old = S.old[i];
    sigaction(sig, &old, NULL);
    if (old.sa_handler == SIG_DFL) {
        if (!si || si->si_code <= 0) raise(sig);
        return;
    }
    if (old.sa_handler == SIG_IGN) return; /* a fault is fatal anyway: the kernel sees to it */
    run_handler(sig, si, uc, old);
}

/* On a thread running no work, a signal the program handles itself is its
 * business: its runtime may recover from it (a JVM's or a garbage
 * collector's guard pages, a handler that fixes the fault and returns).
 * Its handler runs, relay's stays and says nothing. Otherwise, the
 * signal is a crash: reported, then the previous action takes over. */
static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    int saved = errno, i = slot(sig);
    if (!tls_reporting && !tls_work.what && i >= 0 && is_function(&S.old[i])) {
        run_handler(sig, si, uc, S.old[i]);
        errno = saved;
        return;
    }
    if (!tls_reporting) {
        tls_reporting = 1;
        if (tls_work.what) {
            report(sig, si, 0);
        } else {
            char line[sizeof S.who + 64];
            relay__crash_text_t t = {line, sizeof line, 0};
            relay__crash_put(&t, "relay: ");
            relay__crash_put(&t, S.who);
            relay__crash_put(&t, ": ");
            put_signal(&t, sig);
            relay__crash_put(&t, " outside a task\n");
            write_all(line, t.len);
        }
    }
    chain(sig, si, uc);
    errno = saved;
}

/* exit() on a thread running work: said before the process goes. */
static void on_exit_hook(int status, void *arg)
{
    (void)arg;
    if (!atomic_load_explicit(&S.enabled, memory_order_relaxed) || !tls_work.what || tls_reporting)
        return;
    tls_reporting = 1;
    report(0, NULL, status);
}

/* ---------------------------------------------------------------------- */
/* Records                                                                  */
/* ---------------------------------------------------------------------- */

/* The runtime thread, each turn of its loop (lock held): a report waiting
 * goes to rank 0. */
static void on_runtime_turn(void)
{
    tls_runtime = 1;
    if (atomic_load_explicit(&S.state, memory_order_acquire) != REPORT_READY) return;
    atomic_store(&S.state, REPORT_QUEUED);
    relay__rec_crash_t m = {S.report};
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_CRASH, &start);
    relay__rec_crash_encode(w, &m);
    relay__msg_end(0, w, start);
}

/* Rank 0: a rank's task crashed. Said for the driver, kept as the rank's
 * fate (errors of its lost work quote it), acknowledged so that the rank
 * may die. */
static void on_crash(int src, relay__rbuf_t *r)
{
    relay__rec_crash_t m;
    if (relay__rec_crash_decode(r, &m) != 0) {
        relay__rec_malformed(RELAY__R_CRASH, src, r);
        return;
    }
    fprintf(stderr, "relay: rank 0 reports: %s\n", m.text);
    fflush(stderr);
    relay__rank_fate_set(src, m.text);
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(src, RELAY__R_CRASH_ACK, &start);
    relay__msg_end(src, w, start);
}

static void on_crash_ack(int src, relay__rbuf_t *r)
{
    if (relay__rec_empty_decode(r) != 0) {
        relay__rec_malformed(RELAY__R_CRASH_ACK, src, r);
        return;
    }
    atomic_store(&S.acked, 1);
}

/* ---------------------------------------------------------------------- */
/* Install                                                                  */
/* ---------------------------------------------------------------------- */

/* The host as relay_init gathered it: the same name lost-rank errors use. */
static void set_who(void)
{
    snprintf(S.who, sizeof S.who, "rank %d (host %s, pid %ld)", relay__g.rank,
             relay__rank_host(relay__g.rank), (long)getpid());
}

void relay__crash_init(int hosts_workers)
{
    if (relay__g.rank == 0) relay__handler_set(RELAY__R_CRASH, on_crash);
    if (!hosts_workers || !relay__g.cfg.crash_report) return;
    set_who();
    S.rank = relay__g.rank;
    atomic_store(&S.claimed, 0);
    atomic_store(&S.done, 0);
    atomic_store(&S.state, 0);
    atomic_store(&S.acked, 0);
    /* Its first call loads libgcc's unwinder (dlopen, malloc): not in a
     * signal handler. */
    void *frame[1];
    (void)backtrace(frame, 1);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFATAL; i++) {
        if (sigaction(fatal_signals[i], &sa, &S.old[i]) != 0) {
            relay__log(RELAY__LOG_WARN, "cannot install a crash handler for %s: %s",
                       relay__crash_signame(fatal_signals[i]), strerror(errno));
            S.old[i].sa_handler = SIG_DFL;
        }
    }
    relay__handler_set(RELAY__R_CRASH_ACK, on_crash_ack);
    relay__comm_hooks()->runtime_turn = on_runtime_turn;
    /* An exit hook cannot be removed: one per process, idle while off. */
    if (!S.exit_hooked && on_exit(on_exit_hook, NULL) == 0) S.exit_hooked = 1;
    atomic_store_explicit(&S.enabled, 1, memory_order_relaxed);
}

void relay__crash_fini(void)
{
    if (!atomic_load_explicit(&S.enabled, memory_order_relaxed)) return;
    atomic_store_explicit(&S.enabled, 0, memory_order_relaxed);
    for (size_t i = 0; i < NFATAL; i++) {
        struct sigaction cur;
        if (sigaction(fatal_signals[i], NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
            cur.sa_sigaction == on_fatal)
            sigaction(fatal_signals[i], &S.old[i], NULL);
    }
}

void relay__crash_thread_begin(void)
{
    if (!atomic_load_explicit(&S.enabled, memory_order_relaxed)) return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;
    size_t size = (size_t)SIGSTKSZ > ALT_STACK_MIN ? (size_t)SIGSTKSZ : ALT_STACK_MIN;
    stack_t ss = {.ss_sp = malloc(size), .ss_size = size, .ss_flags = 0};
    if (!ss.ss_sp) return; /* reported all the same, unless the stack overflowed */
    if (sigaltstack(&ss, NULL) != 0) {
        free(ss.ss_sp);
        return;
    }
    tls_altstack = ss.ss_sp;
}

void relay__crash_thread_end(void)
{
    if (!tls_altstack) return;
    stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    free(tls_altstack);
    tls_altstack = NULL;
}

void relay__crash_running(const struct relay_ctx *c)
{
    if (!c) {
        tls_work.what = NULL;
        return;
    }
    if (!atomic_load_explicit(&S.enabled, memory_order_relaxed)) return;
    const char *what = c->kind == RELAY__KIND_ACTOR    ? "actor constructor"
                       : c->kind == RELAY__KIND_METHOD ? "actor method"
                                                       : "task";
    relay__crash_work_set(&tls_work, what, c->name, c->fn);
}
