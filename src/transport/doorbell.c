#include "doorbell.h"

#include <errno.h>
#include <sched.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "runtime.h"

/* One cache line per rank so ranks do not share lines. */
typedef struct bell {
    atomic_uint seq;      /* bumped by every ring */
    atomic_uint sleeping; /* the owner waits on seq */
    char pad[56];
} bell_t;

static struct {
    MPI_Comm node;
    MPI_Win win;
    bell_t *own;    /* this rank's bell */
    bell_t **ranks; /* per rank of relay's communicator: its bell, NULL off node */
    bell_t private_bell;
    int oversubscribed;
} B = {MPI_COMM_NULL, MPI_WIN_NULL, NULL, NULL, {0}, 0};

static long futex(atomic_uint *addr, int op, unsigned val, const struct timespec *ts)
{
    return syscall(SYS_futex, (unsigned *)addr, op, val, ts, NULL, 0);
}

/* More ranks on this machine than CPUs they may run on: the union of their
 * affinity masks (a Slurm allocation or cgroup may give them fewer than
 * the machine has). Collective over host. */
static int host_oversubscribed(MPI_Comm host)
{
    cpu_set_t mine, all;
    int host_size;
    CPU_ZERO(&mine);
    if (sched_getaffinity(0, sizeof mine, &mine) != 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        for (long i = 0; i < n && i < CPU_SETSIZE; i++)
            CPU_SET((int)i, &mine);
    }
    MPI_Allreduce(&mine, &all, (int)sizeof mine, MPI_BYTE, MPI_BOR, host);
    MPI_Comm_size(host, &host_size);
    return host_size > CPU_COUNT(&all);
}

/* Map every rank of this node to its bell in the shared window. The ranks
 * of a node agree on success first, so all of them use the window or none
 * does (a failure on one rank must not leave the others in a collective). */
static int map_node(MPI_Comm node)
{
    int node_size, node_rank;
    bell_t *mine = NULL;
    B.node = node; /* the runtime's */
    MPI_Comm_size(B.node, &node_size);
    MPI_Comm_rank(B.node, &node_rank);
    int *global = malloc((size_t)node_size * sizeof *global);
    int ok = global && MPI_Win_allocate_shared(sizeof(bell_t), 1, MPI_INFO_NULL, B.node, &mine,
                                               &B.win) == MPI_SUCCESS;
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, B.node);
    if (!all) {
        if (B.win != MPI_WIN_NULL) MPI_Win_free(&B.win);
        free(global);
        return -1;
    }
    MPI_Allgather(&relay__g.rank, 1, MPI_INT, global, 1, MPI_INT, B.node);
    for (int i = 0; i < node_size; i++) {
        MPI_Aint size;
        int disp;
        bell_t *b;
        MPI_Win_shared_query(B.win, i, &size, &disp, &b);
        B.ranks[global[i]] = b;
    }
    free(global);
    B.own = mine;
    atomic_init(&B.own->seq, 0);
    atomic_init(&B.own->sleeping, 0);
    MPI_Barrier(B.node); /* every bell is initialised before anyone rings */
    return 0;
}

int relay__bell_init(MPI_Comm node, MPI_Comm host)
{
    int node_size;
    B.oversubscribed = host_oversubscribed(host);
    B.ranks = calloc((size_t)relay__g.size, sizeof *B.ranks);
    if (!B.ranks) return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    MPI_Comm_size(node, &node_size);
    /* A node of one rank has no one to share its bell with. */
    if (node_size == 1 || map_node(node) != 0) {
        if (node_size > 1)
            relay__log(RELAY__LOG_INFO, "no shared memory for doorbells: idle ranks poll");
        for (int r = 0; r < relay__g.size; r++)
            B.ranks[r] = NULL;
        B.own = &B.private_bell;
        B.ranks[relay__g.rank] = B.own;
    }
    return RELAY_OK;
}

void relay__bell_fini(void)
{
    if (B.win != MPI_WIN_NULL) MPI_Win_free(&B.win);
    B.node = MPI_COMM_NULL;
    free(B.ranks);
    B.ranks = NULL;
    B.own = NULL;
}

void relay__bell_ring(int rank)
{
    bell_t *b = B.ranks ? B.ranks[rank] : NULL;
    if (!b) return;
    atomic_fetch_add(&b->seq, 1);
    if (atomic_load(&b->sleeping)) futex(&b->seq, FUTEX_WAKE, 1, NULL);
}

unsigned relay__bell_arm(void)
{
    atomic_store(&B.own->sleeping, 1);
    return atomic_load(&B.own->seq);
}

void relay__bell_wait(unsigned armed, double seconds)
{
    if (seconds <= 0) {
        atomic_store(&B.own->sleeping, 0);
        return;
    }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    if (atomic_load(&B.own->seq) == armed) futex(&B.own->seq, FUTEX_WAIT, armed, &ts);
    atomic_store(&B.own->sleeping, 0);
}

int relay__bell_oversubscribed(void)
{
    return B.oversubscribed;
}

int relay__bell_all_local(void)
{
    int n = 0;
    for (int r = 0; B.ranks && r < relay__g.size; r++)
        n += B.ranks[r] != NULL;
    return n == relay__g.size;
}
