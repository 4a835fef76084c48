/* transport/liveness.h on its own: a rank silent past the timeout is lost,
 * a rank heard from is not, rank 0's pings come every quarter of the
 * timeout, a worker watches rank 0 only (three timeouts long), a checker
 * that was itself stalled finds nobody lost, one scan finds every silent
 * rank, and nobody is judged before the ranks arm. */
#include <stdio.h>

#include "check.h"
#include "liveness.h"

/* Checks at times t0, t0 + step, ... up to t1; hear() each rank but skip
 * every step. Returns the first rank found lost, or -1. */
static int run(relay__live_t *l, double t0, double t1, double step, int skip, double *when_p,
               int *pings_p)
{
    for (double t = t0; t <= t1; t += step) {
        for (int r = 0; r < l->n; r++)
            if (r != skip) relay__live_heard(l, r, t);
        double silent = 0;
        int ping = 0, lost = relay__live_check(l, t, &silent, &ping);
        *pings_p += ping;
        if (lost >= 0) {
            *when_p = t;
            return lost;
        }
    }
    return -1;
}

static void rank0_finds_silent_rank(void)
{
    relay__live_t l;
    CHECK_EQ(relay__live_init(&l, 4, 0, 10, 100), 0);
    double when = 0;
    int pings = 0;
    /* Everyone speaks for a minute: nobody is lost, pings every 2.5 s. */
    CHECK_EQ(run(&l, 100, 160, 0.1, -1, &when, &pings), -1);
    CHECK_GE(pings, 23);
    CHECK_LE(pings, 26);
    /* Rank 2 falls silent at 160: lost after 10 s (and within a scan). */
    CHECK_EQ(run(&l, 160.1, 200, 0.1, 2, &when, &pings), 2);
    CHECK(when > 169.5);
    CHECK(when <= 171.0);
    CHECK(l.lost[2]);
    CHECK(!relay__live_watches(&l, 2));
    /* Lost once: never found again; the others still live. */
    CHECK_EQ(run(&l, when, when + 60, 0.1, 2, &when, &pings), -1);
    relay__live_free(&l);
}

static void worker_watches_rank0_only(void)
{
    relay__live_t l;
    CHECK_EQ(relay__live_init(&l, 3, 1, 4, 0), 0);
    CHECK(relay__live_watches(&l, 0));
    CHECK(!relay__live_watches(&l, 1));
    CHECK(!relay__live_watches(&l, 2));
    double when = 0;
    int pings = 0;
    /* Rank 2's silence is none of a worker's business; a worker never pings. */
    CHECK_EQ(run(&l, 0, 30, 0.05, 2, &when, &pings), -1);
    CHECK_EQ(pings, 0);
    /* Rank 0 silent from 30: lost after three timeouts, not one. */
    CHECK_EQ(run(&l, 30, 60, 0.05, 0, &when, &pings), 0);
    CHECK(when > 41.5);
    CHECK(when <= 43.0);
    relay__live_free(&l);
}

static void stalled_checker_finds_nobody(void)
{
    relay__live_t l;
    CHECK_EQ(relay__live_init(&l, 3, 0, 10, 0), 0);
    double silent = 0;
    int ping = 0;
    CHECK_EQ(relay__live_check(&l, 1, &silent, &ping), -1);
    /* The checker itself did not run for 60 s: silence means nothing. */
    CHECK_EQ(relay__live_check(&l, 61, &silent, &ping), -1);
    CHECK_EQ(ping, 1);
    /* ...but from then on it counts again. */
    double when = 0;
    int pings = 0;
    CHECK_EQ(run(&l, 62, 100, 0.5, 1, &when, &pings), 1);
    CHECK(when > 70.5);
    CHECK(when <= 72.5);
    relay__live_free(&l);
}

static void off_and_told(void)
{
    relay__live_t l;
    CHECK_EQ(relay__live_init(&l, 3, 0, 0, 0), 0);
    double when = 0;
    int pings = 0;
    CHECK_EQ(run(&l, 0, 1000, 1, 1, &when, &pings), -1); /* timeout 0: off */
    CHECK_EQ(pings, 0);
    relay__live_set_lost(&l, 2);
    CHECK(!relay__live_watches(&l, 2));
    relay__live_set_lost(&l, 0); /* itself: ignored */
    CHECK(!l.lost[0]);
    relay__live_free(&l);
}

static void one_scan_finds_all(void)
{
    relay__live_t l;
    CHECK_EQ(relay__live_init(&l, 5, 0, 10, 0), 0);
    double silent = 0;
    int ping = 0;
    /* Scans come at whole seconds here (then none for 10/16 s). */
    for (double t = 0; t <= 10.5; t += 0.5) {
        relay__live_heard(&l, 1, t);
        relay__live_heard(&l, 3, t);
        CHECK_EQ(relay__live_check(&l, t, &silent, &ping), -1);
    }
    /* Ranks 2 and 4 fell silent together: the same scan finds both. */
    relay__live_heard(&l, 1, 11);
    relay__live_heard(&l, 3, 11);
    CHECK_EQ(relay__live_check(&l, 11, &silent, &ping), 2);
    CHECK_EQ(relay__live_check(&l, 11, &silent, &ping), 4);
    CHECK_EQ(relay__live_check(&l, 11, &silent, &ping), -1);
    CHECK(l.lost[2] && l.lost[4] && !l.lost[1] && !l.lost[3]);
    relay__live_free(&l);
}

static void judged_once_armed(void)
{
    relay__live_t l;
    CHECK_EQ(relay__live_init(&l, 3, 0, 1, 0), 0);
    relay__live_disarm(&l);
    double when = 0;
    int pings = 0;
    /* Ranks still starting, silent for long: nobody judged, no pings. */
    CHECK_EQ(run(&l, 0, 20, 0.1, 2, &when, &pings), -1);
    CHECK_EQ(pings, 0);
    /* Armed at 20: silence counts from then on. */
    relay__live_arm(&l, 20);
    CHECK_EQ(run(&l, 20, 20.9, 0.1, 2, &when, &pings), -1);
    CHECK_EQ(run(&l, 21, 30, 0.1, 2, &when, &pings), 2);
    CHECK(when > 21.0);
    relay__live_free(&l);
}

int main(void)
{
    one_scan_finds_all();
    judged_once_armed();
    rank0_finds_silent_rank();
    worker_watches_rank0_only();
    stalled_checker_finds_nobody();
    off_and_told();
    printf("unit_liveness: PASS\n");
    return 0;
}
