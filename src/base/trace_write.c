/* The trace file: every rank's packed events as Chrome trace event JSON
 * (one process per rank, one track per thread), with what only the whole
 * job shows joined here: queued spans from a task's submission (on one
 * rank) to its start (on another), and flow arrows from the task that
 * made an object to the tasks that consumed it. */
#include "trace_pack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hashmap.h"
#include "log.h"
#include "relay.h"

typedef struct pack {
    const relay__trace_head_t *h; /* NULL: rank not traced */
    const relay__trace_thread_t *th;
    const relay__tev_t *ev;
    const char **str; /* [nstrings] */
} pack_t;

/* A task or actor call that ran, by its id. */
typedef struct run {
    const relay__tev_t *e;
    int rank;
    char name[2 * RELAY_MAX_NAME];
} run_t;

typedef struct edge {
    uint64_t producer, consumer;
} edge_t;

typedef struct job {
    FILE *f;
    pack_t *p;
    int nranks;
    relay__map_t runs;    /* task id -> run_t */
    relay__map_t submits; /* task id -> its SUBMIT event */
    size_t events;
    int first;
} job_t;

/* Bytes of the well-formed UTF-8 character at c (1..4), 0 if it is not
 * one: a name cut mid-character or never UTF-8 must not make the file
 * invalid JSON. */
static int utf8_char(const unsigned char *c)
{
    int n = c[0] >= 0xc2 && c[0] <= 0xdf   ? 2
            : c[0] >= 0xe0 && c[0] <= 0xef ? 3
            : c[0] >= 0xf0 && c[0] <= 0xf4 ? 4
                                           : 0;
    for (int i = 1; i < n; i++)
        if ((c[i] & 0xc0) != 0x80) return 0;
    /* Overlong three-byte forms, surrogates, beyond U+10FFFF. */
    if ((c[0] == 0xe0 && c[1] < 0xa0) || (c[0] == 0xed && c[1] > 0x9f) ||
        (c[0] == 0xf0 && c[1] < 0x90) || (c[0] == 0xf4 && c[1] > 0x8f))
        return 0;
    return n;
}

void relay__trace_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        if (*c == '"' || *c == '\\') {
            fprintf(f, "\\%c", *c);
        } else if (*c < 0x20 || *c == 0x7f) {
            fprintf(f, "\\u%04x", *c);
        } else if (*c < 0x80) {
            fputc(*c, f);
        } else {
            int n = utf8_char(c);
            if (n) {
                fwrite(c, 1, (size_t)n, f);
                c += n - 1;
            } else {
                fputs("\\ufffd", f); /* the replacement character */
            }
        }
    }
    fputc('"', f);
}

/* Checks a pack's layout against its length (it came from another rank:
 * nothing in it is trusted) and fills p; ends its names within. */
static int unpack(void *buf, size_t len, pack_t *p)
{
    relay__trace_head_t *h = buf;
    if (!buf || len < sizeof *h || h->magic != RELAY__TRACE_MAGIC) return -1;
    size_t left = len - sizeof *h;
    if (h->nthreads > left / sizeof *p->th) return -1;
    left -= h->nthreads * sizeof *p->th;
    if (h->nevents > left / sizeof *p->ev) return -1;
    left -= (size_t)h->nevents * sizeof *p->ev;
    if (left != h->strbytes) return -1;
    h->host[sizeof h->host - 1] = '\0';
    relay__trace_thread_t *th = (void *)(h + 1);
    for (uint32_t t = 0; t < h->nthreads; t++)
        th[t].name[sizeof th[t].name - 1] = '\0';
    p->h = h;
    p->th = th;
    p->ev = (const void *)(th + h->nthreads);
    const char *s = (const char *)(p->ev + h->nevents), *end = s + h->strbytes;
    if (h->strbytes && end[-1] != '\0') return -1;
    p->str = calloc(h->nstrings ? h->nstrings : 1, sizeof *p->str);
    if (!p->str) return -1;
    for (uint32_t i = 0; i < h->nstrings && s < end; i++) {
        p->str[i] = s;
        s += strnlen(s, (size_t)(end - s)) + 1;
    }
    return 0;
}

static const char *str_of(const pack_t *p, const char *idx)
{
    uintptr_t i = (uintptr_t)idx;
    return i && i <= p->h->nstrings && p->str[i - 1] ? p->str[i - 1] : "";
}

/* Microseconds of job clock nanoseconds, as the format wants them. */
static void put_us(FILE *f, const char *key, double ns)
{
    fprintf(f, ",\"%s\":%.3f", key, ns / 1000.0);
}

/* The start of an event object: {"ph":..,"cat":..,"name":..,"pid":..,"tid":.. */
static void begin(job_t *j, const char *ph, const char *cat, const char *name, int pid, int tid)
{
    fputs(j->first ? "\n" : ",\n", j->f);
    j->first = 0;
    fprintf(j->f, "{\"ph\":\"%s\",\"cat\":\"%s\",\"name\":", ph, cat);
    relay__trace_json_string(j->f, name);
    fprintf(j->f, ",\"pid\":%d,\"tid\":%d", pid, tid);
    j->events++;
}

static const char *status_word(int status)
{
    return status == RELAY_OK                ? "ok"
           : status == RELAY_ERR_TASK_FAILED ? "failed"
                                             : relay_status_name(status);
}

static void meta(job_t *j, int r)
{
    const pack_t *p = &j->p[r];
    char name[128];
    snprintf(name, sizeof name, "rank %d (%s)", r, p->h->host);
    begin(j, "M", "__metadata", "process_name", r, 0);
    fputs(",\"args\":{\"name\":", j->f);
    relay__trace_json_string(j->f, name);
    fputs("}}", j->f);
    begin(j, "M", "__metadata", "process_sort_index", r, 0);
    fprintf(j->f, ",\"args\":{\"sort_index\":%d}}", r);
    for (uint32_t t = 0; t < p->h->nthreads; t++) {
        begin(j, "M", "__metadata", "thread_name", r, p->th[t].tid);
        fputs(",\"args\":{\"name\":", j->f);
        relay__trace_json_string(j->f, p->th[t].name);
        fputs("}}", j->f);
    }
}

/* ---------------------------------------------------------------------- */
/* Events as they were recorded                                             */
/* ---------------------------------------------------------------------- */

static void complete(job_t *j, const char *cat, const char *name, int r, const relay__tev_t *e)
{
    begin(j, "X", cat, name, r, e->peer);
    put_us(j->f, "ts", e->t0);
    put_us(j->f, "dur", e->t1 - e->t0);
}

static void task_event(job_t *j, int r, const relay__tev_t *e)
{
    const char *fn = str_of(&j->p[r], e->s1);
    complete(j, "task", fn, r, e);
    fprintf(j->f, ",\"args\":{\"task_id\":\"0x%016llx\",\"function\":", (unsigned long long)e->id);
    relay__trace_json_string(j->f, fn);
    fputs(",\"name\":", j->f);
    char text[RELAY__TEV_TEXT + 1];
    memcpy(text, e->u.text, RELAY__TEV_TEXT);
    text[RELAY__TEV_TEXT] = '\0';
    relay__trace_json_string(j->f, text);
    fprintf(j->f, ",\"rank\":%d,\"status\":\"%s\"}}", r, status_word(e->status));
}

static void actor_event(job_t *j, int r, const relay__tev_t *e, const run_t *run)
{
    complete(j, "actor", run->name, r, e);
    fprintf(j->f, ",\"args\":{\"task_id\":\"0x%016llx\",\"actor_id\":\"0x%016llx\",\"method\":",
            (unsigned long long)e->id, (unsigned long long)e->id2);
    relay__trace_json_string(j->f, str_of(&j->p[r], e->s2));
    fprintf(j->f, ",\"rank\":%d,\"status\":\"%s\"}}", r, status_word(e->status));
}

static void blocked_event(job_t *j, int r, const relay__tev_t *e)
{
    /* Only inside its task's slice: that run may be missing (its event
     * dropped once the buffer was full) or another (a retry). */
    const run_t *run = relay__map_get(&j->runs, e->id);
    if (!run || run->rank != r || run->e->peer != e->peer || e->t0 < run->e->t0 ||
        e->t1 > run->e->t1)
        return;
    complete(j, "blocked", str_of(&j->p[r], e->s1), r, e);
    fprintf(j->f, ",\"args\":{\"task_id\":\"0x%016llx\",\"objects\":[", (unsigned long long)e->id);
    for (unsigned i = 0; i < e->nids && i < RELAY__TEV_IDS; i++)
        fprintf(j->f, "%s\"0x%016llx\"", i ? "," : "", (unsigned long long)e->u.ids[i]);
    fprintf(j->f, "],\"count\":%llu}}", (unsigned long long)e->n);
}

static void spill_event(job_t *j, int r, const relay__tev_t *e)
{
    complete(j, "spill", e->kind == RELAY__TEV_SPILL_W ? "spill write" : "spill read", r, e);
    fprintf(j->f, ",\"args\":{\"object\":\"0x%016llx\",\"bytes\":%llu}}", (unsigned long long)e->id,
            (unsigned long long)e->n);
}

static void sched_event(job_t *j, int r, const relay__tev_t *e)
{
    complete(j, "scheduler", "schedule", r, e);
    fprintf(j->f, ",\"args\":{\"records\":%llu}}", (unsigned long long)e->n);
}

/* A transfer as an async span on its rank (tid: the recording thread's,
 * kept in the packed event's place for it: see trace_gather.c). */
static void xfer_event(job_t *j, int r, const relay__tev_t *e, size_t k)
{
    int send = e->kind == RELAY__TEV_SEND;
    const char *name = send ? "send" : "receive";
    char id[64];
    snprintf(id, sizeof id, "x%d.%zu", r, k);
    begin(j, "b", "transfer", name, r, 0);
    put_us(j->f, "ts", e->t0);
    fprintf(j->f,
            ",\"id\":\"%s\",\"args\":{\"object\":\"0x%016llx\",\"bytes\":%llu,"
            "\"from\":%d,\"to\":%d}}",
            id, (unsigned long long)e->id, (unsigned long long)e->n, send ? r : e->peer,
            send ? e->peer : r);
    begin(j, "e", "transfer", name, r, 0);
    put_us(j->f, "ts", e->t1);
    fprintf(j->f, ",\"id\":\"%s\"}", id);
}

static void rank_events(job_t *j, int r)
{
    const pack_t *p = &j->p[r];
    for (uint64_t k = 0; k < p->h->nevents; k++) {
        const relay__tev_t *e = &p->ev[k];
        const run_t *run = e->kind == RELAY__TEV_TASK || e->kind == RELAY__TEV_ACTOR
                               ? relay__map_get(&j->runs, e->id)
                               : NULL;
        if (run && run->e != e) continue; /* a second run of one task id: the first counts */
        switch (e->kind) {
        case RELAY__TEV_TASK:
            task_event(j, r, e);
            break;
        case RELAY__TEV_ACTOR:
            actor_event(j, r, e, run);
            break;
        case RELAY__TEV_BLOCKED:
            blocked_event(j, r, e);
            break;
        case RELAY__TEV_SPILL_W:
        case RELAY__TEV_SPILL_R:
            spill_event(j, r, e);
            break;
        case RELAY__TEV_SCHED:
            sched_event(j, r, e);
            break;
        case RELAY__TEV_SEND:
        case RELAY__TEV_RECV:
            xfer_event(j, r, e, (size_t)k);
            break;
        default:
            break;
        }
    }
}

/* ---------------------------------------------------------------------- */
/* What the ranks' events show together                                     */
/* ---------------------------------------------------------------------- */

/* Runs and submissions by task id. */
static int index_runs(job_t *j, run_t **runs_p)
{
    size_t n = 0, k = 0;
    for (int r = 0; r < j->nranks; r++)
        for (uint64_t i = 0; j->p[r].h && i < j->p[r].h->nevents; i++)
            n += j->p[r].ev[i].kind == RELAY__TEV_TASK || j->p[r].ev[i].kind == RELAY__TEV_ACTOR;
    run_t *runs = calloc(n ? n : 1, sizeof *runs);
    if (!runs) return -1;
    *runs_p = runs;
    for (int r = 0; r < j->nranks; r++) {
        const pack_t *p = &j->p[r];
        for (uint64_t i = 0; p->h && i < p->h->nevents; i++) {
            const relay__tev_t *e = &p->ev[i];
            if (e->kind == RELAY__TEV_SUBMIT && !relay__map_get(&j->submits, e->id) &&
                relay__map_put(&j->submits, e->id, (void *)e) != 0)
                return -1;
            if ((e->kind != RELAY__TEV_TASK && e->kind != RELAY__TEV_ACTOR) ||
                relay__map_get(&j->runs, e->id))
                continue;
            run_t *run = &runs[k++];
            run->e = e;
            run->rank = r;
            if (e->kind == RELAY__TEV_TASK)
                snprintf(run->name, sizeof run->name, "%s", str_of(p, e->s1));
            else
                snprintf(run->name, sizeof run->name, "%s.%s", str_of(p, e->s1), str_of(p, e->s2));
            if (relay__map_put(&j->runs, e->id, run) != 0) return -1;
        }
    }
    return 0;
}

/* From submission (the submitting rank's time) to start, on the rank
 * that ran it. */
static void queued(job_t *j, const run_t *run)
{
    const relay__tev_t *sub = relay__map_get(&j->submits, run->e->id);
    if (!sub) return;
    double b = sub->t0 < run->e->t0 ? sub->t0 : run->e->t0;
    char id[24];
    snprintf(id, sizeof id, "0x%016llx", (unsigned long long)run->e->id);
    begin(j, "b", "queued", run->name, run->rank, run->e->peer);
    put_us(j->f, "ts", b);
    fprintf(j->f, ",\"id\":\"%s\"}", id);
    begin(j, "e", "queued", run->name, run->rank, run->e->peer);
    put_us(j->f, "ts", run->e->t0);
    fprintf(j->f, ",\"id\":\"%s\"}", id);
}

static int edge_cmp(const void *a, const void *b)
{
    const edge_t *x = a, *y = b;
    if (x->producer != y->producer) return x->producer < y->producer ? -1 : 1;
    return x->consumer < y->consumer ? -1 : x->consumer > y->consumer;
}

/* Producer -> consumer pairs of the arguments consumed, each once, both
 * ends among the runs. [OUT] n_p. */
static edge_t *edges_of(job_t *j, size_t *n_p)
{
    size_t n = 0, k = 0;
    for (int r = 0; r < j->nranks; r++)
        for (uint64_t i = 0; j->p[r].h && i < j->p[r].h->nevents; i++)
            if (j->p[r].ev[i].kind == RELAY__TEV_ARGS) n += j->p[r].ev[i].nids;
    edge_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return NULL;
    for (int r = 0; r < j->nranks; r++) {
        for (uint64_t i = 0; j->p[r].h && i < j->p[r].h->nevents; i++) {
            const relay__tev_t *e = &j->p[r].ev[i];
            if (e->kind != RELAY__TEV_ARGS || !relay__map_get(&j->runs, e->id)) continue;
            for (unsigned a = 0; a < e->nids && a < RELAY__TEV_IDS; a++) {
                /* An object a task returned carries the task's id, its
                 * index in the low byte. */
                uint64_t maker = e->u.ids[a] & ~(uint64_t)0xff;
                if (maker != e->id && relay__map_get(&j->runs, maker))
                    v[k++] = (edge_t){maker, e->id};
            }
        }
    }
    qsort(v, k, sizeof *v, edge_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (!u || edge_cmp(&v[u - 1], &v[i])) v[u++] = v[i];
    *n_p = u;
    return v;
}

static void flow(job_t *j, const edge_t *g, size_t k)
{
    const run_t *from = relay__map_get(&j->runs, g->producer);
    const run_t *to = relay__map_get(&j->runs, g->consumer);
    /* Inside the producer's span, at its end: arrows leave from there. */
    double s = from->e->t1 - 1 > from->e->t0 ? from->e->t1 - 1 : from->e->t0;
    begin(j, "s", "flow", "result", from->rank, from->e->peer);
    put_us(j->f, "ts", s);
    fprintf(j->f, ",\"id\":\"f%zu\"}", k);
    begin(j, "f", "flow", "result", to->rank, to->e->peer);
    put_us(j->f, "ts", to->e->t0);
    fprintf(j->f, ",\"bp\":\"e\",\"id\":\"f%zu\"}", k);
}

static void other_data(job_t *j)
{
    FILE *f = j->f;
    int traced = 0;
    unsigned long long dropped = 0, limit = 0;
    for (int r = 0; r < j->nranks; r++) {
        traced += j->p[r].h != NULL;
        dropped += j->p[r].h ? j->p[r].h->dropped : 0;
        if (j->p[r].h && !limit) limit = j->p[r].h->limit;
    }
    fprintf(f,
            "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"relay_version\":\"%d.%d.%d\","
            "\"ranks\":%d,\"ranks_traced\":%d,\"dropped_events\":%llu,\"dropped_per_rank\":[",
            RELAY_VERSION_MAJOR, RELAY_VERSION_MINOR, RELAY_VERSION_PATCH, j->nranks, traced,
            dropped);
    for (int r = 0; r < j->nranks; r++)
        fprintf(f, "%s%llu", r ? "," : "",
                j->p[r].h ? (unsigned long long)j->p[r].h->dropped : 0ULL);
    fputs("],\"clock_error_us\":[", f);
    for (int r = 0; r < j->nranks; r++)
        fprintf(f, "%s%.3f", r ? "," : "", j->p[r].h ? j->p[r].h->clock_error * 1e6 : 0.0);
    fprintf(f, "],\"buffer_bytes\":%llu}}\n", limit);
}

static int write_all(job_t *j)
{
    run_t *runs = NULL;
    size_t nedges = 0;
    edge_t *edges = NULL;
    int rc = index_runs(j, &runs);
    if (!rc) rc = (edges = edges_of(j, &nedges)) ? 0 : -1;
    if (!rc) {
        fputs("{\"traceEvents\":[", j->f);
        j->first = 1;
        for (int r = 0; r < j->nranks; r++)
            if (j->p[r].h) meta(j, r);
        for (int r = 0; r < j->nranks; r++)
            if (j->p[r].h) rank_events(j, r);
        for (size_t i = 0; i < j->runs.count; i++)
            queued(j, &runs[i]);
        for (size_t i = 0; i < nedges; i++)
            flow(j, &edges[i], i);
        other_data(j);
    }
    free(edges);
    free(runs);
    if (rc) errno = ENOMEM;
    return rc;
}

/* Into a temporary name first: a reader never sees half a file. */
int relay__trace_write(const char *path, void *const *packs, const size_t *lens, int nranks,
                       size_t *events_p)
{
    job_t j = {.nranks = nranks, .p = calloc((size_t)nranks, sizeof(pack_t))};
    if (!j.p) return errno = ENOMEM, -1;
    for (int r = 0; r < nranks; r++)
        if (packs[r] && unpack(packs[r], lens[r], &j.p[r]) != 0) {
            relay__log(RELAY__LOG_WARN,
                       "trace: rank %d's events are malformed (%zu bytes): left "
                       "out",
                       r, lens[r]);
            free(j.p[r].str);
            j.p[r] = (pack_t){0};
        }
    relay__map_init(&j.runs);
    relay__map_init(&j.submits);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int rc = (j.f = fopen(tmp, "w")) ? write_all(&j) : -1;
    if (!rc && ferror(j.f)) rc = -1, errno = EIO;
    int err = rc ? errno : 0;
    if (j.f && fclose(j.f) != 0 && !rc) rc = -1, err = errno;
    if (!rc && rename(tmp, path) != 0) rc = -1, err = errno;
    if (rc && j.f) unlink(tmp);
    relay__map_destroy(&j.runs);
    relay__map_destroy(&j.submits);
    for (int r = 0; r < nranks; r++)
        free(j.p[r].str);
    free(j.p);
    *events_p = j.events;
    errno = err;
    return rc;
}
