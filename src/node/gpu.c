/* Which GPUs a rank owns. The ranks of a node exchange the UUIDs of the
 * devices they see, so the rule works both when every rank sees every
 * device (plain mpirun: devices go round-robin) and when the launcher gave
 * each rank its own CUDA_VISIBLE_DEVICES (Slurm's --gpus-per-task: each
 * rank keeps what it sees). A device never goes to two ranks. */
#include "gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "resources.h"
#include "runtime.h"

static struct {
    int n;        /* GPUs of this rank */
    int nreal;    /* of those, real devices (the first nreal) */
    int nvisible; /* devices CUDA shows this process */
    int ids[RELAY__MAX_GPUS];
    char physical[RELAY__MAX_GPUS][RELAY_GPU_NAME_MAX];
} G;

int relay__gpu_visible_entry(const char *visible, int ordinal, char *buf, size_t size)
{
    if (size == 0) return 0;
    const char *p = visible;
    for (int i = 0; p && i < ordinal; i++) {
        p = strchr(p, ',');
        if (p) p++;
    }
    if (p && ordinal >= 0) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len) {
            if (len >= size) len = size - 1;
            memcpy(buf, p, len);
            buf[len] = '\0';
            return 1;
        }
    }
    snprintf(buf, size, "%d", ordinal);
    return 0;
}

int relay__gpu_share(int nlocal, const int *hosts, const int *ndev, const unsigned char *uuids,
                     int me, int *owned)
{
    int total = 0;
    for (int i = 0; i < nlocal; i++)
        total += ndev[i];
    int *first = malloc(((size_t)nlocal + 1) * sizeof *first);
    int *load = calloc((size_t)nlocal, sizeof *load);
    int nowned = 0;
    if (!first || !load) {
        free(first);
        free(load);
        return 0;
    }
    first[0] = 0;
    for (int i = 0; i < nlocal; i++)
        first[i + 1] = first[i] + ndev[i];
    /* Walk devices in order of first sighting; give each to the least
     * loaded worker rank that sees it (ties: the lowest local rank). */
    for (int k = 0; k < total; k++) {
        const unsigned char *u = uuids + (size_t)k * RELAY__GPU_UUID_BYTES;
        int seen_before = 0;
        for (int j = 0; j < k && !seen_before; j++)
            seen_before =
                !memcmp(u, uuids + (size_t)j * RELAY__GPU_UUID_BYTES, RELAY__GPU_UUID_BYTES);
        if (seen_before) continue;
        int best = -1, my_ord = -1;
        for (int i = 0; i < nlocal; i++) {
            int ord = -1;
            for (int d = 0; d < ndev[i] && ord < 0; d++)
                if (!memcmp(u, uuids + (size_t)(first[i] + d) * RELAY__GPU_UUID_BYTES,
                            RELAY__GPU_UUID_BYTES))
                    ord = d;
            if (i == me) my_ord = ord;
            if (ord < 0 || !hosts[i]) continue;
            if (best < 0 || load[i] < load[best]) best = i;
        }
        if (best < 0) continue;
        load[best]++;
        if (best == me) owned[nowned++] = my_ord;
    }
    free(first);
    free(load);
    return nowned;
}

/* The devices this rank sees, as UUIDs; -1 on a backend error. */
static int my_uuids(int n, unsigned char *uuids)
{
    for (int d = 0; d < n; d++)
        if (relay__gpu_backend_uuid(d, uuids + (size_t)d * RELAY__GPU_UUID_BYTES) != 0) return -1;
    return 0;
}

/* Collective over the node: the ordinals this rank owns. */
static int share_on_node(MPI_Comm node, int hosts, int nvisible, int *owned)
{
    int nlocal, me;
    MPI_Comm_size(node, &nlocal);
    MPI_Comm_rank(node, &me);
    unsigned char *mine = calloc((size_t)(nvisible ? nvisible : 1), RELAY__GPU_UUID_BYTES);
    int *hostv = malloc((size_t)nlocal * sizeof *hostv),
        *ndev = malloc((size_t)nlocal * sizeof *ndev);
    int *counts = malloc((size_t)nlocal * sizeof *counts),
        *offs = malloc((size_t)nlocal * sizeof *offs);
    int ok = mine && hostv && ndev && counts && offs;
    /* A device whose UUID cannot be read is not used: it could be another
     * rank's too. */
    if (ok && my_uuids(nvisible, mine) != 0) {
        relay__log(RELAY__LOG_WARN,
                   "cannot read the UUIDs of the %d visible CUDA devices; "
                   "using none",
                   nvisible);
        nvisible = 0;
    }
    int pair[2] = {hosts, nvisible}, *pairs = malloc(2 * (size_t)nlocal * sizeof *pairs);
    int all_ok = 0, mine_ok = ok && pairs;
    MPI_Allreduce(&mine_ok, &all_ok, 1, MPI_INT, MPI_MIN, node);
    int n = 0;
    if (all_ok) {
        MPI_Allgather(pair, 2, MPI_INT, pairs, 2, MPI_INT, node);
        int total = 0;
        for (int i = 0; i < nlocal; i++) {
            hostv[i] = pairs[2 * i];
            ndev[i] = pairs[2 * i + 1];
            counts[i] = ndev[i] * RELAY__GPU_UUID_BYTES;
            offs[i] = total * RELAY__GPU_UUID_BYTES;
            total += ndev[i];
        }
        unsigned char *all = calloc((size_t)(total ? total : 1), RELAY__GPU_UUID_BYTES);
        int got = all != NULL, every = 0;
        MPI_Allreduce(&got, &every, 1, MPI_INT, MPI_MIN, node);
        if (every) {
            MPI_Allgatherv(mine, nvisible * RELAY__GPU_UUID_BYTES, MPI_BYTE, all, counts, offs,
                           MPI_BYTE, node);
            n = relay__gpu_share(nlocal, hostv, ndev, all, me, owned);
        }
        all_ok = every;
        free(all);
    }
    free(mine);
    free(hostv);
    free(ndev);
    free(counts);
    free(offs);
    free(pairs);
    if (!all_ok) return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory sharing GPUs");
    return n;
}

int relay__gpu_setup(MPI_Comm node, int hosts, int override)
{
    memset(&G, 0, sizeof G);
    relay__gpu_backend_load(NULL);
    G.nvisible = relay__gpu_backend_count();
    if (G.nvisible > RELAY__MAX_GPUS) G.nvisible = RELAY__MAX_GPUS;
    int owned[RELAY__MAX_GPUS];
    int n = share_on_node(node, hosts, G.nvisible, owned);
    if (n < 0) return n;
    if (!hosts) return RELAY_OK;
    G.n = override >= 0 ? override : n;
    G.nreal = n < G.n ? n : G.n;
    for (int i = 0; i < G.nreal; i++)
        G.ids[i] = owned[i];
    /* Virtual GPUs get ids no device of this process has. */
    for (int i = G.nreal; i < G.n; i++)
        G.ids[i] = G.nvisible + (i - G.nreal);
    /* Read once: CUDA too reads it once, when it starts. */
    const char *visible = getenv("CUDA_VISIBLE_DEVICES");
    for (int i = 0; i < G.n; i++)
        relay__gpu_visible_entry(visible, G.ids[i], G.physical[i], sizeof G.physical[i]);
    return RELAY_OK;
}

void relay__gpu_teardown(void)
{
    memset(&G, 0, sizeof G);
}

int relay__gpu_count(void)
{
    return G.n;
}

int relay__gpu_id(int index)
{
    return index >= 0 && index < G.n ? G.ids[index] : -1;
}

const char *relay__gpu_physical(int index)
{
    return index >= 0 && index < G.n ? G.physical[index] : NULL;
}

int relay__gpu_bind(int index)
{
    if (index < 0 || index >= G.nreal) return 0;
    return relay__gpu_backend_set(G.ids[index]);
}
