/* The crash report's async-signal-safe formatting (node/crash.c): numbers,
 * signal names, names cut to fit, text cut at the buffer's end, and the
 * report lines themselves. One process, no MPI run. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "crash.h"

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

int main(void)
{
    numbers();
    signal_names();
    truncation();
    reports();
    printf("unit_crash: %llu checks, PASS\n", checks);
    return 0;
}
