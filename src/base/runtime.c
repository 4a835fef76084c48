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

/* The own ids whose last hold here went, in a table of RELEASED_KEEP slots
 * indexed by sequence: a bounded memory of what this rank gave up, so that
 * a use of one can be checked (relay__released_own). Ids come in sequence,
 * so a slot is overwritten by the id made RELEASED_KEEP later: about the
 * last RELEASED_KEEP ids released are remembered, older ones go unchecked.
 * A store and a load per release, no map: every task's refs pass here.
 * Lock held. */
#define RELEASED_KEEP 4096
static uint64_t released_slots[RELEASED_KEEP];

static uint64_t *released_slot(uint64_t id)
{
    return &released_slots[(relay__id_seq(id) + relay__id_index(id)) & (RELEASED_KEEP - 1)];
}

int relay__released_own(uint64_t id)
{
    return id && *released_slot(id) == id;
}

void relay__released_forget(uint64_t id)
{
    uint64_t *slot = released_slot(id);
    if (*slot == id) *slot = 0;
}

void relay__released_reset(void)
{
    memset(released_slots, 0, sizeof released_slots);
}

long relay__hold_rank_move(uint64_t id, int delta)
{
    uintptr_t n = (uintptr_t)relay__map_get(&relay__g.holds, id);
    if (delta < 0 && n == 0) return -1;
    if (n == 0 && relay__id_rank(id) == relay__g.rank) relay__released_forget(id);
    n += (uintptr_t)(intptr_t)delta;
    if (n == 0) {
        if (relay__id_rank(id) == relay__g.rank) *released_slot(id) = id;
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
