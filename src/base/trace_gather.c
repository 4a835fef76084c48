/* The trace's life around the job: its file chosen and checked at
 * relay_init, every rank's events packed and gathered to rank 0 at
 * relay_finalize. */
#include "trace_pack.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hashmap.h"
#include "gather.h"
#include "log.h"
#include "runtime.h"

/* ---------------------------------------------------------------------- */
/* Packing                                                                  */
/* ---------------------------------------------------------------------- */

typedef struct strtab {
    relay__map_t index; /* pointer -> index + 1 */
    char *data;
    size_t len, cap;
    uint32_t n;
} strtab_t;

/* s's index + 1 in the table (0: NULL or out of memory). */
static uint64_t intern(strtab_t *t, const char *s)
{
    if (!s) return 0;
    uintptr_t v = (uintptr_t)relay__map_get(&t->index, (uint64_t)(uintptr_t)s);
    if (v) return v;
    size_t n = strlen(s) + 1;
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + n)
            cap *= 2;
        char *d = realloc(t->data, cap);
        if (!d) return 0;
        t->data = d;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    v = ++t->n;
    if (relay__map_put(&t->index, (uint64_t)(uintptr_t)s, (void *)v) != 0) return 0;
    return v;
}

/* Job clock nanoseconds of a relay__now() value. */
static double job_ns(double t)
{
    return t > 0 ? (double)(int64_t)(relay__clock_of(t) * 1e9 + 0.5) : 0;
}

/* The event as it travels: times on the job clock, strings as indices
 * (kept in the pointer fields, read back as such by the writer). */
static relay__tev_t packed(const relay__tev_t *e, strtab_t *t, int tid)
{
    relay__tev_t p = *e;
    p.t0 = job_ns(e->t0);
    p.t1 = e->t1 > 0 ? job_ns(e->t1) : p.t0;
    if (p.t1 < p.t0) p.t1 = p.t0;
    p.s1 = (const char *)(uintptr_t)intern(t, e->s1);
    p.s2 = (const char *)(uintptr_t)intern(t, e->s2);
    p.peer = e->kind == RELAY__TEV_SEND || e->kind == RELAY__TEV_RECV ? e->peer : tid;
    return p;
}

/* Every thread's events, in one array (malloc'd). Lock held. */
static relay__tev_t *collect(strtab_t *t, uint64_t *n_p, relay__trace_thread_t **threads_p,
                             uint32_t *nthreads_p)
{
    uint64_t n = 0;
    uint32_t nt = 0;
    for (relay__trace_buf_t *b = relay__trace_threads(); b; b = b->next, nt++)
        for (relay__trace_chunk_t *c = b->head; c; c = atomic_load(&c->next))
            n += atomic_load_explicit(&c->n, memory_order_acquire);
    relay__tev_t *ev = malloc((n ? n : 1) * sizeof *ev);
    relay__trace_thread_t *th = calloc(nt ? nt : 1, sizeof *th);
    if (!ev || !th) {
        free(ev);
        free(th);
        return NULL;
    }
    uint64_t k = 0;
    uint32_t j = 0;
    for (relay__trace_buf_t *b = relay__trace_threads(); b; b = b->next, j++) {
        th[j].tid = b->tid;
        memcpy(th[j].name, b->name, sizeof th[j].name);
        for (relay__trace_chunk_t *c = b->head; c && k < n; c = atomic_load(&c->next)) {
            unsigned m = atomic_load_explicit(&c->n, memory_order_acquire);
            for (unsigned i = 0; i < m && k < n; i++)
                ev[k++] = packed(&c->ev[i], t, b->tid);
        }
    }
    *n_p = k;
    *threads_p = th;
    *nthreads_p = nt;
    return ev;
}

void *relay__trace_pack(int rank, const char *host, size_t *len_p)
{
    strtab_t t = {0};
    relay__map_init(&t.index);
    relay__trace_thread_t *th = NULL;
    uint64_t n = 0;
    uint32_t nt = 0;
    relay__trace_lock(1);
    relay__tev_t *ev = collect(&t, &n, &th, &nt);
    relay__trace_lock(0);
    relay__map_destroy(&t.index);
    char *out = NULL;
    size_t len = sizeof(relay__trace_head_t) + nt * sizeof *th + n * sizeof *ev + t.len;
    if (ev) out = malloc(len);
    if (out) {
        relay__trace_head_t h = {
            RELAY__TRACE_MAGIC,   rank,  nt, t.n, n, relay__trace_dropped(), relay__clock_error(),
            relay__trace_limit(), t.len, ""};
        snprintf(h.host, sizeof h.host, "%s", host ? host : "?");
        char *p = out;
        memcpy(p, &h, sizeof h);
        p += sizeof h;
        memcpy(p, th, nt * sizeof *th);
        p += nt * sizeof *th;
        memcpy(p, ev, n * sizeof *ev);
        p += n * sizeof *ev;
        if (t.len) memcpy(p, t.data, t.len);
    }
    free(ev);
    free(th);
    free(t.data);
    *len_p = out ? len : 0;
    return out;
}

/* ---------------------------------------------------------------------- */
/* The file's name, at relay_init                                           */
/* ---------------------------------------------------------------------- */

/* path with "%j" as the Slurm job (or "nojob"); "1" as
 * relay-trace-<job>.json, <job> the Slurm job or start time and pid. */
static int expand(const char *path, char *out, size_t n)
{
    const char *job = getenv("SLURM_JOB_ID");
    if (job && !*job) job = NULL;
    if (!strcmp(path, "1")) {
        if (job) return snprintf(out, n, "relay-trace-%s.json", job) >= (int)n;
        return snprintf(out, n, "relay-trace-%lld-%lld.json", (long long)time(NULL),
                        (long long)getpid()) >= (int)n;
    }
    size_t k = 0;
    for (const char *s = path; *s; s++) {
        const char *add = s[0] == '%' && s[1] == 'j' ? (job ? job : "nojob") : NULL;
        size_t m = add ? strlen(add) : 1;
        if (k + m + 1 > n) return 1;
        memcpy(out + k, add ? add : s, m);
        k += m;
        s += add != NULL;
    }
    out[k] = '\0';
    return 0;
}

/* The directory of path is there and this process may create files in it. */
static int dir_ok(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    return access(dir, W_OK | X_OK) == 0 ? 0 : errno;
}

/* Rank 0: the name of the file into name (empty on error, with the
 * message in msg). */
static void choose(const char *path, char *name, size_t n, char *msg, size_t m)
{
    if (expand(path, name, n)) {
        snprintf(msg, m, "trace path '%s' is too long", path);
        name[0] = '\0';
        return;
    }
    int err = dir_ok(name);
    if (err) {
        snprintf(msg, m, "trace file '%s': its directory cannot take it: %s", name, strerror(err));
        name[0] = '\0';
    }
}

int relay__trace_init(MPI_Comm comm, int rank, const char *path, size_t buffer_bytes, int log_debug)
{
    char name[4096] = "", msg[4300] = "";
    int bad = 0;
    if (rank == 0 && path) {
        choose(path, name, sizeof name, msg, sizeof msg);
        bad = !name[0];
    }
    int both[2] = {bad, path != NULL};
    MPI_Bcast(both, 2, MPI_INT, 0, comm);
    if (both[1]) MPI_Bcast(name, (int)sizeof name, MPI_CHAR, 0, comm);
    if (both[0])
        return relay__error(RELAY_ERR_CONFIG, "relay_init: %s",
                            rank == 0 ? msg : "rank 0 cannot write the trace file");
    relay__trace_setup(both[1] ? name : NULL, buffer_bytes, log_debug);
    relay__trace_thread("main");
    return RELAY_OK;
}

/* ---------------------------------------------------------------------- */
/* Gathering, at relay_finalize                                             */
/* ---------------------------------------------------------------------- */

/* Rank 0: the file from the packs, and what the log says of it. */
static void write_file(void **packs, size_t *lens, int size, int partial)
{
    const char *path = relay__trace_path();
    size_t events = 0;
    if (relay__trace_write(path, packs, lens, size, &events) != 0) {
        relay__log(RELAY__LOG_WARN, "trace: cannot write '%s': %s", path, strerror(errno));
        return;
    }
    relay__log(RELAY__LOG_INFO, "trace: wrote %zu events to %s%s", events, path,
               partial ? " (some ranks' events did not come: see otherData.ranks_traced)" : "");
    for (int r = 0; r < size; r++) {
        const relay__trace_head_t *h = packs[r];
        if (h && h->dropped)
            relay__log(RELAY__LOG_WARN,
                       "trace: %llu events dropped on rank %d; raise RELAY_TRACE_BUFFER "
                       "(now %llu bytes)",
                       (unsigned long long)h->dropped, r, (unsigned long long)h->limit);
    }
}

void relay__trace_finalize(MPI_Comm comm, const char *skip, double timeout)
{
    int flags = atomic_load(&relay__trace_flags);
    if (!(flags & RELAY__TRACE_REC)) return;
    atomic_store(&relay__trace_flags, flags & ~RELAY__TRACE_REC);
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    size_t len = 0;
    void *mine = relay__trace_pack(rank, relay__rank_host(rank), &len);
    void **packs = rank == 0 ? calloc((size_t)size, sizeof *packs) : NULL;
    size_t *lens = rank == 0 ? calloc((size_t)size, sizeof *lens) : NULL;
    int ok = packs && lens;
    /* Rank 0 without room still drains the others (they would wait). */
    int got = relay__gather_bytes(comm, RELAY__TRACE_TAG, mine, len, skip, timeout,
                                  ok ? packs : NULL, ok ? lens : NULL);
    if (rank != 0) {
        if (got) free(mine); /* else MPI may still read it */
        return;
    }
    if (ok) {
        packs[0] = mine;
        lens[0] = len;
        write_file(packs, lens, size, got < size);
    } else {
        relay__log(RELAY__LOG_WARN, "trace: out of memory gathering the events: no file");
    }
    for (int r = 1; ok && r < size; r++)
        free(packs[r]);
    free(packs);
    free(lens);
    free(mine);
}
