#include "doorbell.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
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
    bell_t *shared; /* the node's bells, one per rank of node, in shared memory */
    size_t shared_len;
    bell_t *own;    /* this rank's bell */
    bell_t **ranks; /* per rank of relay's communicator: its bell, NULL off node */
    bell_t private_bell;
    int oversubscribed;
} B = {MPI_COMM_NULL, NULL, 0, NULL, NULL, {0}, 0};

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

/* The node's bells: POSIX shared memory that node rank 0 creates and the
 * others map, named for them over node. Not an MPI window: freeing one is
 * collective (MPI_Finalize frees any left), which would wait forever for
 * a rank that died; a mapping goes with each process on its own. NULL on
 * failure (logged). Collective over node. */
static bell_t *map_shared(MPI_Comm node, int node_rank, size_t len)
{
    char name[64] = "";
    int fd = -1;
    if (node_rank == 0) {
        static atomic_uint serial;
        snprintf(name, sizeof name, "/relay-bells-%ld-%u", (long)getpid(),
                 atomic_fetch_add(&serial, 1));
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd >= 0 && ftruncate(fd, (off_t)len) != 0) {
            close(fd);
            fd = -1;
        }
        if (fd < 0) name[0] = '\0';
    }
    MPI_Bcast(name, (int)sizeof name, MPI_CHAR, 0, node);
    if (node_rank != 0 && name[0]) fd = shm_open(name, O_RDWR, 0600);
    void *p = fd >= 0 ? mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (fd >= 0) close(fd);
    int ok = p != MAP_FAILED, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, node);
    if (node_rank == 0 && name[0]) shm_unlink(name); /* every rank has it mapped, or gave up */
    if (all) return p;
    if (ok) munmap(p, len);
    return NULL;
}

/* Map every rank of this node to its bell in shared memory. The ranks of
 * a node agree on success first, so all of them use it or none does (a
 * failure on one rank must not leave the others in a collective). */
static int map_node(MPI_Comm node)
{
    int node_size, node_rank;
    B.node = node; /* the runtime's */
    MPI_Comm_size(B.node, &node_size);
    MPI_Comm_rank(B.node, &node_rank);
    int *global = malloc((size_t)node_size * sizeof *global);
    int ok = global != NULL, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, B.node);
    size_t len = (size_t)node_size * sizeof(bell_t);
    bell_t *bells = all ? map_shared(B.node, node_rank, len) : NULL;
    if (!bells) {
        free(global);
        return -1;
    }
    B.shared = bells;
    B.shared_len = len;
    MPI_Allgather(&relay__g.rank, 1, MPI_INT, global, 1, MPI_INT, B.node);
    for (int i = 0; i < node_size; i++)
        B.ranks[global[i]] = &bells[i];
    free(global);
    B.own = &bells[node_rank];
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
    if (B.shared) munmap(B.shared, B.shared_len);
    B.shared = NULL;
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
