/* Which ranks still live, judged by silence: every message from a rank
 * counts as life, and a rank silent for longer than the timeout is lost.
 * Rank 0 watches every rank (and pings each one every quarter of the
 * timeout, so a living rank is never silent that long); a worker rank
 * watches rank 0 only. Pure logic on times given by the caller (no MPI, no
 * clock, no lock): the transport feeds it (comm.c). */
#ifndef RELAY_LIVENESS_H
#define RELAY_LIVENESS_H

typedef struct relay__live {
    int n, self;
    double timeout; /* seconds; 0: off */
    double *heard;  /* [n]: when something last came from the rank */
    char *lost;     /* [n] */
    double last_check, next_ping, next_scan;
    int armed; /* judging at all: from relay__live_arm on */
    int next;  /* where the scan for further silent ranks goes on */
} relay__live_t;

/* Everyone counts as heard at now; armed. 0, or -1 out of memory. */
int relay__live_init(relay__live_t *l, int n, int self, double timeout, double now);
void relay__live_free(relay__live_t *l);
void relay__live_heard(relay__live_t *l, int rank, double now);
/* Whether this rank watches rank (and so may find it lost). */
int relay__live_watches(const relay__live_t *l, int rank);
/* Everyone counts as heard at now, and judging (re)starts: ranks arm
 * once all have started (relay_init's barrier), so that work each rank
 * does alone before it listens counts as no silence. */
void relay__live_arm(relay__live_t *l, double now);
/* Judging stops (until relay__live_arm). */
void relay__live_disarm(relay__live_t *l);
/* A check at now: a watched rank silent for more than the timeout (rank 0
 * as watched by a worker: three timeouts, since rank 0's runtime thread
 * may stall, and then the whole job ends), now marked lost (its silence in
 * *silent_p), or -1. Call again at the same now, ping_p ignored, until -1:
 * every rank silent at this scan is returned, one per call. A checker
 * that was itself stalled for more than a quarter of the timeout (its
 * thread starved, the machine suspended) cannot tell silence from not
 * listening: everyone then counts as heard at now. Ranks are scanned a
 * few times per quarter of the timeout. *ping_p: rank 0's pings are due
 * (every quarter of the timeout). */
int relay__live_check(relay__live_t *l, double now, double *silent_p, int *ping_p);
/* rank, just found lost by a check, was heard after all (a message from
 * it waits to be received): it lives, heard at now. */
void relay__live_spare(relay__live_t *l, int rank, double now);
/* Marks rank lost (told by rank 0, or a send to it failed). */
void relay__live_set_lost(relay__live_t *l, int rank);

#endif
