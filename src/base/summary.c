#include "summary.h"

#include "gather.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ---------------------------------------------------------------------- */
/* Counters                                                                 */
/* ---------------------------------------------------------------------- */

/* Per rank: a few relaxed adds per task or message, cheap enough to keep
 * whether or not the table is printed. */
/* Workers' counters and the runtime thread's on cache lines of their own:
 * they would otherwise steal one line from each other at every task and
 * message. */
static _Alignas(64) atomic_uint_fast64_t n_tasks, n_busy_ns, n_blocked_ns;
static _Alignas(64) atomic_uint_fast64_t n_msg_sent, n_msg_recv, n_obj_sent, n_obj_recv;
static atomic_int summary_on;

/* Per function: a name lookup per run, so only with the summary on. An
 * open-addressed table whose slots, once published, never change or go:
 * runs look names up without a lock, and only a name's first run takes
 * one. Entries outlive relay_finalize (a thread it abandoned may still
 * return from a task) and are zeroed by the next relay_init. */
#define FN_SLOTS 1024
typedef struct fn_entry {
    char name[RELAY__SUMMARY_NAME];
    atomic_uint_fast64_t count, total_ns, max_ns, failures;
} fn_entry_t;
static _Atomic(fn_entry_t *) fn_table[FN_SLOTS];
static pthread_mutex_t fn_insert_lock = PTHREAD_MUTEX_INITIALIZER;
/* Runs of the names that found the table full, or no memory. */
static fn_entry_t fn_other = {.name = "(other)"};

static void zero_entry(fn_entry_t *e)
{
    atomic_store(&e->count, 0);
    atomic_store(&e->total_ns, 0);
    atomic_store(&e->max_ns, 0);
    atomic_store(&e->failures, 0);
}

int relay__summary_start(MPI_Comm comm, int enabled)
{
    MPI_Bcast(&enabled, 1, MPI_INT, 0, comm);
    atomic_uint_fast64_t *all[] = {&n_tasks,    &n_busy_ns,  &n_blocked_ns, &n_obj_sent,
                                   &n_obj_recv, &n_msg_sent, &n_msg_recv};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        atomic_store(all[i], 0);
    for (size_t i = 0; i < FN_SLOTS; i++) {
        fn_entry_t *e = atomic_load(&fn_table[i]);
        if (e) zero_entry(e);
    }
    zero_entry(&fn_other);
    atomic_store(&summary_on, enabled != 0);
    return enabled != 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot of key from its home slot on; the first empty slot when absent
 * (index FN_SLOTS: the table is full). */
static size_t probe(const char *key, uint64_t h)
{
    for (size_t i = 0; i < FN_SLOTS; i++) {
        size_t at = (size_t)(h + i) % FN_SLOTS;
        fn_entry_t *e = atomic_load_explicit(&fn_table[at], memory_order_acquire);
        if (!e || !strcmp(e->name, key)) return at;
    }
    return FN_SLOTS;
}

/* key's entry, made on its first run (under the lock, so two threads
 * cannot publish the same name twice). */
static fn_entry_t *fn_entry(const char *key)
{
    uint64_t h = fnv1a(key);
    size_t at = probe(key, h);
    fn_entry_t *e =
        at < FN_SLOTS ? atomic_load_explicit(&fn_table[at], memory_order_acquire) : NULL;
    if (e) return e;
    pthread_mutex_lock(&fn_insert_lock);
    at = probe(key, h);
    e = at < FN_SLOTS ? atomic_load(&fn_table[at]) : NULL;
    if (!e && at < FN_SLOTS && (e = calloc(1, sizeof *e))) {
        snprintf(e->name, sizeof e->name, "%s", key);
        atomic_store_explicit(&fn_table[at], e, memory_order_release);
    }
    pthread_mutex_unlock(&fn_insert_lock);
    return e ? e : &fn_other;
}

static void max_into(atomic_uint_fast64_t *m, uint64_t v)
{
    uint_fast64_t old = atomic_load_explicit(m, memory_order_relaxed);
    while (old < v && !atomic_compare_exchange_weak_explicit(m, &old, v, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

static uint64_t to_ns(double seconds)
{
    return seconds > 0 ? (uint64_t)(seconds * 1e9) : 0;
}

void relay__summary_ran(const char *cls, const char *fn, double seconds, int failed)
{
    uint64_t ns = to_ns(seconds);
    atomic_fetch_add_explicit(&n_tasks, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_busy_ns, ns, memory_order_relaxed);
    if (!atomic_load_explicit(&summary_on, memory_order_relaxed)) return;
    char key[RELAY__SUMMARY_NAME];
    if (!cls)
        snprintf(key, sizeof key, "%s", fn ? fn : "?");
    else
        snprintf(key, sizeof key, "%s.%s", cls, fn ? fn : "<init>");
    fn_entry_t *e = fn_entry(key);
    atomic_fetch_add_explicit(&e->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->total_ns, ns, memory_order_relaxed);
    if (failed) atomic_fetch_add_explicit(&e->failures, 1, memory_order_relaxed);
    max_into(&e->max_ns, ns);
}

void relay__summary_blocked(double seconds)
{
    atomic_fetch_add_explicit(&n_blocked_ns, to_ns(seconds), memory_order_relaxed);
}

void relay__summary_xfer(int sent, uint64_t bytes)
{
    atomic_fetch_add_explicit(sent ? &n_obj_sent : &n_obj_recv, bytes, memory_order_relaxed);
}

void relay__summary_msg(int sent, uint64_t bytes)
{
    atomic_fetch_add_explicit(sent ? &n_msg_sent : &n_msg_recv, bytes, memory_order_relaxed);
}

void relay__summary_local(relay__summary_rank_t *r)
{
    memset(r, 0, sizeof *r);
    r->tasks = atomic_load(&n_tasks);
    r->busy_ns = atomic_load(&n_busy_ns);
    r->blocked_ns = atomic_load(&n_blocked_ns);
    r->obj_sent = atomic_load(&n_obj_sent);
    r->obj_recv = atomic_load(&n_obj_recv);
    r->msg_sent = atomic_load(&n_msg_sent);
    r->msg_recv = atomic_load(&n_msg_recv);
}

/* ---------------------------------------------------------------------- */
/* Gathering                                                                */
/* ---------------------------------------------------------------------- */

static void copy_entry(relay__summary_fn_t *out, const fn_entry_t *e)
{
    memcpy(out->name, e->name, sizeof out->name);
    out->count = atomic_load(&e->count);
    out->total_ns = atomic_load(&e->total_ns);
    out->max_ns = atomic_load(&e->max_ns);
    out->failures = atomic_load(&e->failures);
}

/* This rank's per-function records (malloc'd, *n_p of them; NULL and 0
 * when none or out of memory). */
static relay__summary_fn_t *local_fns(int *n_p)
{
    *n_p = 0;
    relay__summary_fn_t *v = malloc((FN_SLOTS + 1) * sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < FN_SLOTS; i++) {
        fn_entry_t *e = atomic_load_explicit(&fn_table[i], memory_order_acquire);
        if (e && atomic_load(&e->count)) copy_entry(&v[(*n_p)++], e);
    }
    if (atomic_load(&fn_other.count)) copy_entry(&v[(*n_p)++], &fn_other);
    return v;
}

/* This rank's report: its figures, then its per-function records
 * (malloc'd, *len_p bytes; NULL when out of memory). */
static char *pack_report(const relay__summary_rank_t *mine, size_t *len_p)
{
    int n = 0;
    relay__summary_fn_t *fns = local_fns(&n);
    size_t len = sizeof *mine + (size_t)n * sizeof *fns;
    char *buf = malloc(len);
    if (buf) {
        memcpy(buf, mine, sizeof *mine);
        if (n) memcpy(buf + sizeof *mine, fns, (size_t)n * sizeof *fns);
    }
    free(fns);
    *len_p = buf ? len : 0;
    return buf;
}

/* Rank 0: each rank's report checked and split into its figures (ranks[r],
 * missing[r] set when none came or it was malformed) and its records,
 * appended to fns (room for all). Returns how many records. */
static size_t unpack_reports(void **parts, const size_t *lens, int size,
                             relay__summary_rank_t *ranks, char *missing, relay__summary_fn_t *fns)
{
    size_t nfns = 0;
    for (int r = 0; r < size; r++) {
        size_t len = lens[r];
        if (!parts[r] || len < sizeof *ranks || (len - sizeof *ranks) % sizeof *fns) {
            if (parts[r])
                relay__log(RELAY__LOG_WARN,
                           "relay summary: rank %d's report (%zu bytes) is "
                           "malformed: left out",
                           r, len);
            missing[r] = 1;
            continue;
        }
        memcpy(&ranks[r], parts[r], sizeof *ranks);
        size_t n = (len - sizeof *ranks) / sizeof *fns;
        memcpy(&fns[nfns], (char *)parts[r] + sizeof *ranks, n * sizeof *fns);
        for (size_t i = 0; i < n; i++) /* names from elsewhere end within */
            fns[nfns + i].name[sizeof fns->name - 1] = '\0';
        nfns += n;
    }
    return nfns;
}

/* Rank 0: the table from every report that came. */
static void print_all(FILE *out, double wall, int size, void **parts, const size_t *lens)
{
    size_t most = 0;
    for (int r = 0; r < size; r++)
        if (parts[r]) most += lens[r] / sizeof(relay__summary_fn_t);
    relay__summary_rank_t *ranks = calloc((size_t)size, sizeof *ranks);
    char *missing = calloc((size_t)size, 1);
    relay__summary_fn_t *fns = malloc((most ? most : 1) * sizeof *fns);
    if (ranks && missing && fns) {
        size_t nfns = unpack_reports(parts, lens, size, ranks, missing, fns);
        relay__summary_print(out, wall, size, ranks, missing, fns, nfns);
    } else {
        relay__log(RELAY__LOG_WARN, "relay summary: out of memory on rank 0; no summary");
    }
    free(ranks);
    free(missing);
    free(fns);
}

void relay__summary_finish(MPI_Comm comm, const char *skip, double timeout,
                           relay__summary_rank_t *mine, double wall, FILE *out)
{
    if (!atomic_load(&summary_on)) return;
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    size_t len = 0;
    char *buf = pack_report(mine, &len);
    void **parts = rank == 0 ? calloc((size_t)size, sizeof *parts) : NULL;
    size_t *lens = rank == 0 ? calloc((size_t)size, sizeof *lens) : NULL;
    if (rank == 0 && (!parts || !lens || !buf)) {
        /* Rank 0 still drains the others' reports (they would wait). */
        relay__log(RELAY__LOG_WARN, "relay summary: out of memory on rank 0; no summary");
        skip = NULL;
    }
    int sent = relay__gather_bytes(comm, RELAY__SUMMARY_TAG, buf, len, skip, timeout,
                                   parts && lens ? parts : NULL, parts && lens ? lens : NULL);
    if (rank != 0) {
        if (sent) free(buf); /* else MPI may still read it */
        return;
    }
    if (parts && lens && buf) {
        parts[0] = buf;
        lens[0] = len;
        print_all(out, wall, size, parts, lens);
    }
    for (int r = 0; parts && r < size; r++)
        if (parts[r] != buf) free(parts[r]);
    free(buf);
    free(parts);
    free(lens);
}

/* ---------------------------------------------------------------------- */
/* Merging and printing                                                     */
/* ---------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    const relay__summary_fn_t *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static int by_total(const void *a, const void *b)
{
    const relay__summary_fn_t *x = a, *y = b;
    if (x->total_ns != y->total_ns) return x->total_ns > y->total_ns ? -1 : 1;
    return strcmp(x->name, y->name);
}

size_t relay__summary_merge(relay__summary_fn_t *fns, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) /* a record from the wire may lack it */
        fns[i].name[RELAY__SUMMARY_NAME - 1] = '\0';
    qsort(fns, n, sizeof *fns, by_name);
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        relay__summary_fn_t *a = &fns[k], *b = &fns[i];
        if (strcmp(a->name, b->name) != 0) {
            fns[++k] = *b;
            continue;
        }
        a->count += b->count;
        a->total_ns += b->total_ns;
        a->failures += b->failures;
        if (b->max_ns > a->max_ns) a->max_ns = b->max_ns;
    }
    qsort(fns, k + 1, sizeof *fns, by_total);
    return k + 1;
}

/* Bytes of the UTF-8 character at s (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] < 0x80                    ? 1
               : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
               : s[0] >= 0xe0 && s[0] <= 0xef ? 3
               : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
                                              : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return n;
}

/* name as a table cell of at most width characters (width >= 4): control
 * characters and broken UTF-8 become '?', so a name cannot break the
 * table's lines; a longer name ends in "..." and is never cut inside a
 * character. Writes into out (4 * width + 1 bytes) and returns how many
 * characters it holds. */
static int fit_name(const char *name, char *out, int width)
{
    const unsigned char *s = (const unsigned char *)name;
    int chars = 0, total = 0;
    for (const unsigned char *p = s; *p; total++) {
        size_t n = utf8_len(p);
        p += n ? n : 1;
    }
    int keep = total > width ? width - 3 : total;
    size_t o = 0;
    for (const unsigned char *p = s; *p && chars < keep; chars++) {
        size_t n = utf8_len(p);
        if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
            out[o++] = '?';
            p += n ? n : 1;
            continue;
        }
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
    if (total > width) {
        memcpy(out + o, "...", 3);
        o += 3;
        chars += 3;
    }
    out[o] = '\0';
    return chars;
}

/* bytes with a binary unit, e.g. "512 B", "4.00 MiB". */
static const char *human(uint64_t bytes, char *buf, size_t n)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, n, "%.2f %s", v, unit[u]);
    return buf;
}

static void rank_row(FILE *out, const char *label, const relay__summary_rank_t *r)
{
    char b[6][32];
    fprintf(out, "%5s %8llu %10.3f %10.3f %11s %11s %11s %11s %8llu %8llu %11s\n", label,
            (unsigned long long)r->tasks, r->busy_ns * 1e-9, r->blocked_ns * 1e-9,
            human(r->obj_sent, b[0], 32), human(r->obj_recv, b[1], 32),
            human(r->msg_sent, b[2], 32), human(r->msg_recv, b[3], 32),
            (unsigned long long)r->spilled, (unsigned long long)r->restored,
            human(r->peak_bytes, b[4], 32));
}

static void print_ranks(FILE *out, int nranks, const relay__summary_rank_t *ranks,
                        const char *missing)
{
    fprintf(out, "%5s %8s %10s %10s %11s %11s %11s %11s %8s %8s %11s\n", "rank", "tasks", "busy_s",
            "blocked_s", "obj_sent", "obj_recv", "msg_sent", "msg_recv", "spilled", "restored",
            "peak_store");
    relay__summary_rank_t sum;
    memset(&sum, 0, sizeof sum);
    for (int r = 0; r < nranks; r++) {
        char label[16];
        snprintf(label, sizeof label, "%d", r);
        if (missing && missing[r]) {
            fprintf(out, "%5s  (no report: the rank was lost or did not finalize in time)\n",
                    label);
            continue;
        }
        rank_row(out, label, &ranks[r]);
        const uint64_t *w = (const uint64_t *)&ranks[r];
        uint64_t *s = (uint64_t *)&sum;
        for (size_t i = 0; i < RELAY__SUMMARY_RANK_WORDS; i++)
            s[i] += w[i];
    }
    /* Peaks on different ranks at different times do not add up. */
    sum.peak_bytes = 0;
    for (int r = 0; r < nranks; r++)
        if (ranks[r].peak_bytes > sum.peak_bytes) sum.peak_bytes = ranks[r].peak_bytes;
    rank_row(out, "all", &sum);
}

static void fn_row(FILE *out, const char *name, int chars, int width, const relay__summary_fn_t *f)
{
    double mean_ms = f->count ? f->total_ns * 1e-6 / (double)f->count : 0;
    fprintf(out, "%s%*s %8llu %10.3f %10.3f %10.3f %8llu\n", name, width - chars, "",
            (unsigned long long)f->count, f->total_ns * 1e-9, mean_ms, f->max_ns * 1e-6,
            (unsigned long long)f->failures);
}

#define NAME_WIDTH_MAX 40

static void print_fns(FILE *out, relay__summary_fn_t *fns, size_t n)
{
    char cell[4 * NAME_WIDTH_MAX + 1];
    int width = 8; /* "function" */
    for (size_t i = 0; i < n; i++) {
        int c = fit_name(fns[i].name, cell, NAME_WIDTH_MAX);
        if (c > width) width = c;
    }
    fprintf(out, "%-*s %8s %10s %10s %10s %8s\n", width, "function", "count", "total_s", "mean_ms",
            "max_ms", "failures");
    relay__summary_fn_t sum;
    memset(&sum, 0, sizeof sum);
    for (size_t i = 0; i < n; i++) {
        int c = fit_name(fns[i].name, cell, NAME_WIDTH_MAX);
        fn_row(out, cell, c, width, &fns[i]);
        sum.count += fns[i].count;
        sum.total_ns += fns[i].total_ns;
        sum.failures += fns[i].failures;
        if (fns[i].max_ns > sum.max_ns) sum.max_ns = fns[i].max_ns;
    }
    fn_row(out, "(total)", 7, width, &sum);
}

void relay__summary_print(FILE *out, double wall, int nranks, const relay__summary_rank_t *ranks,
                          const char *missing, relay__summary_fn_t *fns, size_t nfns)
{
    size_t n = relay__summary_merge(fns, nfns);
    fprintf(out, "relay summary: %d rank%s, %.3f s wall time (since rank 0's relay_init)\n", nranks,
            nranks == 1 ? "" : "s", wall);
    fprintf(out, "(busy_s, blocked_s: seconds tasks and methods ran, and waited in get/wait; "
                 "obj_*: bytes of large-object transfers; msg_*: bytes of control messages, "
                 "counted apart)\n");
    print_ranks(out, nranks, ranks, missing);
    fprintf(out, "\n");
    print_fns(out, fns, n);
    fflush(out);
}
