/* The crash report's async-signal-safe formatting (node/crash.c): numbers,
 * signal names, names cut to fit, text cut at the buffer's end, and the
 * report lines themselves. Then relay's handlers themselves, in child
 * processes: a fault the program's own handler recovers from on a thread
 * running no task, and a second thread crashing after the first's report.
 * One process (and its children), no MPI run. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "crash.h"
#include "runtime.h"
#include "worker_state.h"

static unsigned long long checks;

#define EXPECT_STR(got, want)                                                                      \
    do {                                                                                           \
        checks++;                                                                                  \
        CHECK_STREQ((got), (want));                                                                \
    } while (0)

static const char *dec(long long v)
{
    static char buf[64];
    relay__crash_text_t t = {buf, sizeof buf, 0};
    relay__crash_put_dec(&t, v);
    return buf;
}

static const char *hex(unsigned long long v)
{
    static char buf[64];
    relay__crash_text_t t = {buf, sizeof buf, 0};
    relay__crash_put_hex(&t, v);
    return buf;
}

static void numbers(void)
{
    EXPECT_STR(dec(0), "0");
    EXPECT_STR(dec(7), "7");
    EXPECT_STR(dec(-3), "-3");
    EXPECT_STR(dec(1234567890123LL), "1234567890123");
    EXPECT_STR(dec(LLONG_MAX), "9223372036854775807");
    EXPECT_STR(dec(LLONG_MIN), "-9223372036854775808");
    EXPECT_STR(hex(0), "0x0");
    EXPECT_STR(hex(0xdeadbeef), "0xdeadbeef");
    EXPECT_STR(hex(ULLONG_MAX), "0xffffffffffffffff");
}

static void signal_names(void)
{
    EXPECT_STR(relay__crash_signame(SIGSEGV), "SIGSEGV");
    EXPECT_STR(relay__crash_signame(SIGBUS), "SIGBUS");
    EXPECT_STR(relay__crash_signame(SIGFPE), "SIGFPE");
    EXPECT_STR(relay__crash_signame(SIGILL), "SIGILL");
    EXPECT_STR(relay__crash_signame(SIGABRT), "SIGABRT");
    checks++;
    CHECK(relay__crash_signame(SIGUSR1) == NULL);
}

static void truncation(void)
{
    /* Text stops at the buffer's end, NUL-terminated, whatever comes. */
    char small[8];
    relay__crash_text_t t = {small, sizeof small, 0};
    relay__crash_put(&t, "abc");
    relay__crash_put_dec(&t, 12345);
    EXPECT_STR(small, "abc1234");
    checks++;
    CHECK_EQ(t.len, 7);
    relay__crash_put(&t, "more");
    relay__crash_put_hex(&t, 0xff);
    EXPECT_STR(small, "abc1234");
    char one[1];
    relay__crash_text_t e = {one, sizeof one, 0};
    relay__crash_put(&e, "x");
    EXPECT_STR(one, "");

    /* Names longer than the report keeps end in "...". */
    char longname[200];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    relay__crash_work_t w;
    relay__crash_work_set(&w, "task", longname, "f");
    checks++;
    CHECK_EQ(strlen(w.name), RELAY__CRASH_NAME_MAX - 1);
    checks++;
    CHECK(!strcmp(w.name + RELAY__CRASH_NAME_MAX - 4, "..."));
    checks++;
    CHECK(!strncmp(w.name, longname, RELAY__CRASH_NAME_MAX - 4));
    EXPECT_STR(w.fn, "f");
    /* One that just fits is kept whole. */
    longname[RELAY__CRASH_NAME_MAX - 1] = '\0';
    relay__crash_work_set(&w, "task", "t", longname);
    EXPECT_STR(w.fn, longname);
    relay__crash_work_set(&w, "task", NULL, "f");
    EXPECT_STR(w.name, "");
}

static void reports(void)
{
    const char *who = "rank 2 (host vm, pid 1234)";
    relay__crash_work_t w;
    relay__crash_work_set(&w, "task", "my_name", "my_fn");
    char buf[512];
    relay__crash_text_t t = {buf, sizeof buf, 0};

    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGSEGV;
    si.si_code = SEGV_MAPERR;
    si.si_addr = NULL;
    relay__crash_describe_signal(&t, who, &w, SIGSEGV, &si, 1234);
    EXPECT_STR(buf, "rank 2 (host vm, pid 1234): task 'my_name' (function 'my_fn') crashed: "
                    "SIGSEGV (address 0x0)");

    t.len = 0;
    si.si_signo = SIGBUS;
    si.si_code = SI_TKILL;
    si.si_pid = 1234;
    relay__crash_describe_signal(&t, who, &w, SIGBUS, &si, 1234);
    EXPECT_STR(buf, "rank 2 (host vm, pid 1234): task 'my_name' (function 'my_fn') crashed: "
                    "SIGBUS (raised by the process)");

    t.len = 0;
    si.si_signo = SIGABRT;
    relay__crash_describe_signal(&t, who, &w, SIGABRT, &si, 1234);
    EXPECT_STR(buf, "rank 2 (host vm, pid 1234): task 'my_name' (function 'my_fn') crashed: "
                    "SIGABRT (abort() or raised)");

    t.len = 0;
    si.si_signo = SIGFPE;
    si.si_code = SI_USER;
    si.si_pid = 99;
    relay__crash_describe_signal(&t, who, &w, SIGFPE, &si, 1234);
    EXPECT_STR(buf, "rank 2 (host vm, pid 1234): task 'my_name' (function 'my_fn') crashed: "
                    "SIGFPE (sent by process 99)");

    t.len = 0;
    relay__crash_work_set(&w, "actor method", "get", "Counter.get");
    relay__crash_describe_signal(&t, who, &w, SIGUSR2, NULL, 1234);
    char want[256];
    snprintf(want, sizeof want,
             "rank 2 (host vm, pid 1234): actor method 'get' (function 'Counter.get') crashed: "
             "signal %d",
             SIGUSR2);
    EXPECT_STR(buf, want);

    t.len = 0;
    relay__crash_work_set(&w, "task", "my_name", "my_fn");
    relay__crash_describe_exit(&t, who, &w, 3);
    EXPECT_STR(buf, "rank 2 (host vm, pid 1234): task 'my_name' (function 'my_fn') called exit(3)");

    /* A report cut by its buffer stays NUL-terminated. */
    char tiny[24];
    relay__crash_text_t c = {tiny, sizeof tiny, 0};
    relay__crash_describe_exit(&c, who, &w, 3);
    EXPECT_STR(tiny, "rank 2 (host vm, pid 12");
}

/* ---- relay's handlers, in child processes ---------------------------- */

static void say(const char *s)
{
    ssize_t n = write(STDERR_FILENO, s, strlen(s));
    (void)n;
}

static void nap_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* body run in a child whose stderr comes back in out (n bytes); the
 * child's wait status. */
static int in_child(void (*body)(void), char *out, size_t n)
{
    int fd[2];
    CHECK(pipe(fd) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], STDERR_FILENO);
        alarm(30); /* a child that hangs fails */
        body();
        _exit(0);
    }
    close(fd[1]);
    size_t len = 0;
    for (;;) {
        ssize_t k = read(fd[0], out + len, n - 1 - len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        len += (size_t)k;
    }
    out[len] = '\0';
    close(fd[0]);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    return st;
}

/* relay's handlers, as on rank 2 hosting workers. */
static void handlers_on(void)
{
    relay__g.rank = 2;
    relay__g.cfg.crash_report = 1;
    relay__crash_init(1);
}

static void install(int sig, void (*h)(int, siginfo_t *, void *))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(sig, &sa, NULL) == 0);
}

static char *guard;
static long page;
static atomic_int fixed;

/* A runtime's guard pages: a fault on one is fixed, and the write done
 * again. */
static void fix_guard(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    char *a = si->si_addr;
    if (a < guard || a >= guard + 2 * page) {
        signal(sig, SIG_DFL);
        return;
    }
    mprotect(a - (a - guard) % page, (size_t)page, PROT_READ | PROT_WRITE);
    atomic_fetch_add(&fixed, 1);
}

static void recover_body(void)
{
    page = sysconf(_SC_PAGESIZE);
    guard = mmap(NULL, 2 * (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard == MAP_FAILED) _exit(2);
    install(SIGSEGV, fix_guard);
    handlers_on();
    ((volatile char *)guard)[0] = 1;
    ((volatile char *)guard)[page] = 2;
    struct sigaction now;
    sigaction(SIGSEGV, NULL, &now);
    /* Both faults fixed, relay's handler still in place. */
    if (atomic_load(&fixed) != 2 || guard[0] != 1 || guard[page] != 2) _exit(3);
    if ((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == fix_guard) _exit(4);
    say("unit_crash: recovered twice\n");
    _exit(0);
}

/* A fault the program's handler (installed before relay_init) recovers
 * from, on a thread running no task: no report, no line, and relay's
 * handler stays for the next one. */
static void recovered_fault(void)
{
    char out[8192];
    int st = in_child(recover_body, out, sizeof out);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fprintf(stderr, "child said:\n%s\n", out);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
    CHECK(strstr(out, "unit_crash: recovered twice") != NULL);
    CHECK(strstr(out, "relay:") == NULL);
    checks += 4;
}

static atomic_int phase;

/* The program's handler of both crashes: the first (SIGSEGV) waits for
 * the second (SIGBUS), which ends the process. */
static void two_crashes(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    if (sig == SIGSEGV) {
        atomic_store(&phase, 1);
        for (int i = 0; i < 20000; i++)
            nap_ms(1);
        _exit(3);
    }
    say("unit_crash: second handler ran\n");
    _exit(0);
}

static struct relay_ctx work_a, work_b;

static void *crash_a(void *arg)
{
    (void)arg;
    relay__crash_running(&work_a);
    raise(SIGSEGV);
    return NULL;
}

static void second_body(void)
{
    install(SIGSEGV, two_crashes);
    install(SIGBUS, two_crashes);
    handlers_on();
    work_a.kind = work_b.kind = RELAY__KIND_TASK;
    work_a.name = "first_task";
    work_a.fn = "first_fn";
    work_b.name = "second_task";
    work_b.fn = "second_fn";
    pthread_t a;
    if (pthread_create(&a, NULL, crash_a, NULL) != 0) _exit(2);
    while (!atomic_load(&phase))
        nap_ms(1);
    relay__crash_running(&work_b);
    raise(SIGBUS);
    _exit(4);
}

/* A second thread crashing after another's report says one line. */
static void second_crash(void)
{
    char out[65536];
    int st = in_child(second_body, out, sizeof out);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fprintf(stderr, "child said:\n%s\n", out);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
    CHECK(strstr(out, "relay: rank 2 (host ") != NULL);
    CHECK(strstr(out, "task 'first_task' (function 'first_fn') crashed: SIGSEGV") != NULL);
    CHECK(strstr(out, "task 'second_task' (function 'second_fn') crashed: SIGBUS (raised by the "
                      "process), after another crash in this process (no backtrace)\n") != NULL);
    CHECK(strstr(out, "unit_crash: second handler ran") != NULL);
    checks += 6;
}

int main(void)
{
    numbers();
    signal_names();
    truncation();
    reports();
    recovered_fault();
    second_crash();
    printf("unit_crash: %llu checks, PASS\n", checks);
    return 0;
}
