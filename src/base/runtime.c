/* The process-wide state every part shares, its checks and the clock. */
#include "runtime.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

relay__runtime_t relay__g = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .state_cv = PTHREAD_COND_INITIALIZER,
    .cfg = {.log_level = 1},
};

double relay__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int relay__check_on(const char *call)
{
    if (!relay__is_on())
        return relay__error(RELAY_ERR_NOT_INITIALIZED, "%s: relay is not initialized", call);
    return RELAY_OK;
}

/* The own ids whose last hold here went most recently, RELEASED_KEEP of
 * them: id -> its slot in the ring + 1. A bounded memory of what this rank
 * gave up, so that a use of one can be checked (relay__released_own);
 * older ones are no longer checked. Lock held. */
#define RELEASED_KEEP 4096
static relay__map_t released;
static uint64_t released_ring[RELEASED_KEEP];
static size_t released_next;

static void released_note(uint64_t id)
{
    size_t k = released_next++ % RELEASED_KEEP;
    uint64_t old = released_ring[k];
    if (old && (uintptr_t)relay__map_get(&released, old) == k + 1)
        relay__map_remove(&released, old);
    released_ring[k] = id;
    if (relay__map_put(&released, id, (void *)(uintptr_t)(k + 1)) != 0)
        released_ring[k] = 0; /* out of memory: this one goes unchecked */
}

int relay__released_own(uint64_t id)
{
    return relay__map_get(&released, id) != NULL;
}

void relay__released_forget(uint64_t id)
{
    relay__map_remove(&released, id);
}

void relay__released_reset(void)
{
    relay__map_destroy(&released);
    relay__map_init(&released);
    memset(released_ring, 0, sizeof released_ring);
    released_next = 0;
}

long relay__hold_rank_move(uint64_t id, int delta)
{
    uintptr_t n = (uintptr_t)relay__map_get(&relay__g.holds, id);
    if (delta < 0 && n == 0) return -1;
    if (n == 0 && relay__id_rank(id) == relay__g.rank) relay__map_remove(&released, id);
    n += (uintptr_t)(intptr_t)delta;
    if (n == 0) {
        if (relay__id_rank(id) == relay__g.rank) released_note(id);
        relay__map_remove(&relay__g.holds, id);
    } else if (relay__map_put(&relay__g.holds, id, (void *)n) != 0) {
        relay__log(RELAY__LOG_ERROR, "out of memory recording a hold");
        abort();
    }
    return (long)n;
}

void relay__rank_fate_set(int rank, const char *text)
{
    if (rank < 0 || rank >= relay__g.size || !text) return;
    if (!relay__g.rank_fates) relay__g.rank_fates = calloc((size_t)relay__g.size, sizeof(char *));
    if (relay__g.rank_fates) {
        char *copy = strdup(text);
        if (copy) {
            free(relay__g.rank_fates[rank]);
            relay__g.rank_fates[rank] = copy;
        }
    }
}

void relay__rank_fate(int rank, char *buf, size_t n)
{
    if (!buf || n == 0) return;
    buf[0] = '\0';
    if (rank < 0 || rank >= relay__g.size) return;
    if (relay__g.rank_fates && relay__g.rank_fates[rank])
        snprintf(buf, n, "%s", relay__g.rank_fates[rank]);
}

const char *relay__rank_host(int rank)
{
    if (!relay__g.hosts || rank < 0 || rank >= relay__g.size) return "?";
    return relay__g.hosts + (size_t)rank * RELAY__HOST_MAX;
}

void relay__rank_fates_free(void)
{
    if (!relay__g.rank_fates) return;
    for (int r = 0; r < relay__g.size; r++)
        free(relay__g.rank_fates[r]);
    free(relay__g.rank_fates);
    relay__g.rank_fates = NULL;
}
