#include "liveness.h"

#include <stdlib.h>

int relay__live_init(relay__live_t *l, int n, int self, double timeout, double now)
{
    l->n = n;
    l->self = self;
    l->timeout = timeout;
    l->heard = calloc((size_t)(n > 0 ? n : 1), sizeof *l->heard);
    l->lost = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!l->heard || !l->lost) {
        relay__live_free(l);
        return -1;
    }
    for (int r = 0; r < n; r++)
        l->heard[r] = now;
    l->last_check = now;
    l->next_ping = now;
    l->next_scan = now;
    l->armed = 1;
    l->next = -1;
    return 0;
}

void relay__live_arm(relay__live_t *l, double now)
{
    for (int r = 0; r < l->n; r++)
        l->heard[r] = now;
    l->last_check = now;
    l->next_ping = now;
    l->next_scan = now;
    l->next = -1;
    l->armed = 1;
}

void relay__live_disarm(relay__live_t *l)
{
    l->armed = 0;
}

void relay__live_spare(relay__live_t *l, int rank, double now)
{
    if (rank < 0 || rank >= l->n) return;
    l->lost[rank] = 0;
    l->heard[rank] = now;
}

/* Seconds of silence after which rank is lost to this rank. */
static double limit(const relay__live_t *l, int rank)
{
    return l->self != 0 && rank == 0 ? 3 * l->timeout : l->timeout;
}

void relay__live_free(relay__live_t *l)
{
    free(l->heard);
    free(l->lost);
    l->heard = NULL;
    l->lost = NULL;
}

void relay__live_heard(relay__live_t *l, int rank, double now)
{
    if (rank >= 0 && rank < l->n) l->heard[rank] = now;
}

int relay__live_watches(const relay__live_t *l, int rank)
{
    return rank != l->self && (l->self == 0 || rank == 0) && !l->lost[rank];
}

void relay__live_set_lost(relay__live_t *l, int rank)
{
    if (rank >= 0 && rank < l->n && rank != l->self) l->lost[rank] = 1;
}

/* The scan from l->next on: the next silent rank, or -1 at its end. */
static int scan(relay__live_t *l, double now, double *silent_p)
{
    for (int r = l->next; r >= 0 && r < l->n; r++) {
        if (!relay__live_watches(l, r) || now - l->heard[r] <= limit(l, r)) continue;
        l->lost[r] = 1;
        *silent_p = now - l->heard[r];
        l->next = r + 1;
        return r;
    }
    l->next = -1;
    return -1;
}

int relay__live_check(relay__live_t *l, double now, double *silent_p, int *ping_p)
{
    *ping_p = 0;
    if (l->timeout <= 0 || !l->armed) return -1;
    if (l->next >= 0) return scan(l, now, silent_p); /* the same scan goes on */
    double quarter = l->timeout / 4;
    if (now - l->last_check > quarter) {
        for (int r = 0; r < l->n; r++)
            l->heard[r] = now;
        l->next_ping = now;
    }
    l->last_check = now;
    if (l->self == 0 && now >= l->next_ping) {
        *ping_p = 1;
        l->next_ping = now + quarter;
    }
    /* The scan is O(ranks): a few times per quarter is enough. */
    if (now < l->next_scan) return -1;
    l->next_scan = now + quarter / 4;
    l->next = 0;
    return scan(l, now, silent_p);
}
