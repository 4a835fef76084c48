/* Assertions for relay's tests. A failed check prints where it failed (rank,
 * file:line, the expression), both values (with their status names and
 * relay_strerror for statuses) and relay_last_error(),
 * then aborts, so a failing test names itself even under mpirun. */
#ifndef RELAY_TEST_CHECK_H
#define RELAY_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "relay.h"

/* CTest's skip code (SKIP_RETURN_CODE): the test needs something absent. */
#define TEST_SKIP 77

static inline int check__world_rank(void)
{
    int init = 0, fin = 0, rank = -1;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

static inline void check__describe(char *buf, size_t n, long long v, int as_status)
{
    if (as_status)
        snprintf(buf, n, "%lld (%s: %s)", v, relay_status_name((int)v), relay_strerror((int)v));
    else
        snprintf(buf, n, "%lld (0x%llx)", v, (unsigned long long)v);
}

static inline void check__fail(const char *file, int line, const char *what, const char *detail)
{
    /* Read the detail first: it is the calling thread's and any relay call
     * replaces it. */
    const char *le = relay_last_error();
    fprintf(stderr,
            "\n[rank %d] %s:%d: CHECK FAILED: %s\n"
            "    %s\n"
            "    relay_last_error(): \"%s\"\n",
            check__world_rank(), file, line, what, detail ? detail : "", le ? le : "(null)");
    fflush(stderr);
    fflush(stdout);
    abort();
}

static inline void check__cmp(int ok, const char *file, int line, const char *expr, long long a,
                              long long b, int as_status)
{
    if (ok) return;
    char da[160], db[160], detail[400];
    check__describe(da, sizeof da, a, as_status);
    check__describe(db, sizeof db, b, as_status);
    snprintf(detail, sizeof detail, "left = %s, right = %s", da, db);
    check__fail(file, line, expr, detail);
}

/* A condition. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) check__fail(__FILE__, __LINE__, "CHECK(" #cond ")", "condition is false");    \
    } while (0)

/* Integer comparisons (statuses, counts, sizes): both sides as long long.
 * The _AT forms take the location to report (helpers pass their caller's). */
#define CHECK_CMP_AT(file, line, a, op, b)                                                         \
    do {                                                                                           \
        long long check__a = (long long)(a), check__b = (long long)(b);                            \
        check__cmp(check__a op check__b, file, line, #a " " #op " " #b, check__a, check__b, 0);    \
    } while (0)
#define CHECK_CMP(a, op, b) CHECK_CMP_AT(__FILE__, __LINE__, a, op, b)
#define CHECK_EQ(a, b) CHECK_CMP(a, ==, b)
#define CHECK_NE(a, b) CHECK_CMP(a, !=, b)
#define CHECK_GE(a, b) CHECK_CMP(a, >=, b)
#define CHECK_LE(a, b) CHECK_CMP(a, <=, b)
#define CHECK_LT(a, b) CHECK_CMP(a, <, b)
#define CHECK_GT(a, b) CHECK_CMP(a, >, b)

/* A relay call that must succeed. */
#define CHECK_OK(call) CHECK_STATUS(call, RELAY_OK)

/* A relay call that must return exactly this status. */
#define CHECK_STATUS_AT(file, line, call, want)                                                    \
    do {                                                                                           \
        int check__s = (call), check__w = (want);                                                  \
        check__cmp(check__s == check__w, file, line, #call " == " #want, check__s, check__w, 1);   \
    } while (0)
#define CHECK_STATUS(call, want) CHECK_STATUS_AT(__FILE__, __LINE__, call, want)
#define CHECK_OK_AT(file, line, call) CHECK_STATUS_AT(file, line, call, RELAY_OK)

/* Strings. */
#define CHECK_STREQ(a, b)                                                                          \
    do {                                                                                           \
        const char *check__a = (a), *check__b = (b);                                               \
        if (!check__a || !check__b || strcmp(check__a, check__b) != 0) {                           \
            char check__d[1200];                                                                   \
            snprintf(check__d, sizeof check__d, "left = \"%.500s\", right = \"%.500s\"",           \
                     check__a ? check__a : "(null)", check__b ? check__b : "(null)");              \
            check__fail(__FILE__, __LINE__, "CHECK_STREQ(" #a ", " #b ")", check__d);              \
        }                                                                                          \
    } while (0)

#define CHECK_CONTAINS(haystack, needle)                                                           \
    do {                                                                                           \
        const char *check__h = (haystack), *check__n = (needle);                                   \
        if (!check__h || !check__n || !strstr(check__h, check__n)) {                               \
            char check__d[1200];                                                                   \
            snprintf(check__d, sizeof check__d, "\"%.700s\" does not contain \"%.300s\"",          \
                     check__h ? check__h : "(null)", check__n ? check__n : "(null)");              \
            check__fail(__FILE__, __LINE__, "CHECK_CONTAINS(" #haystack ", " #needle ")",          \
                        check__d);                                                                 \
        }                                                                                          \
    } while (0)

/* n bytes equal; names the first differing offset. */
#define CHECK_MEMEQ(a, b, n)                                                                       \
    do {                                                                                           \
        const unsigned char *check__a = (const unsigned char *)(a);                                \
        const unsigned char *check__b = (const unsigned char *)(b);                                \
        size_t check__n = (n);                                                                     \
        if (memcmp(check__a, check__b, check__n) != 0) {                                           \
            size_t check__i = 0;                                                                   \
            while (check__a[check__i] == check__b[check__i])                                       \
                check__i++;                                                                        \
            char check__d[200];                                                                    \
            snprintf(check__d, sizeof check__d, "first difference at byte %zu of %zu: %u vs %u",   \
                     check__i, check__n, check__a[check__i], check__b[check__i]);                  \
            check__fail(__FILE__, __LINE__, "CHECK_MEMEQ(" #a ", " #b ", " #n ")", check__d);      \
        }                                                                                          \
    } while (0)

#endif
