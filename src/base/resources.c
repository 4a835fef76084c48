#include "resources.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "runtime.h"

/* ---------------------------------------------------------------------- */
/* Quantities                                                               */
/* ---------------------------------------------------------------------- */

int relay__units_from(double q, const char *what, int64_t *units_p)
{
    if (q != q || q < 0 || q > 1e9)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s = %g is not a quantity in 0..1e9", what, q);
    double x = q * RELAY__UNIT;
    int64_t u = (int64_t)(x + 0.5);
    double off = x - (double)u;
    /* Doubles cannot hold 0.1 exactly: accept what rounds to a unit. */
    if (off > 0.01 || off < -0.01)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s = %g is not a multiple of 1/%d", what, q,
                            RELAY__UNIT);
    *units_p = u;
    return RELAY_OK;
}

void relay__units_format(int64_t units, char *buf, size_t n)
{
    long long whole = (long long)(units / RELAY__UNIT);
    int frac = (int)(units % RELAY__UNIT);
    if (!frac) {
        snprintf(buf, n, "%lld", whole);
        return;
    }
    char digits[8];
    snprintf(digits, sizeof digits, "%04d", frac);
    for (int i = 3; i > 0 && digits[i] == '0'; i--)
        digits[i] = '\0';
    snprintf(buf, n, "%lld.%s", whole, digits);
}

/* ---------------------------------------------------------------------- */
/* Names and offers                                                         */
/* ---------------------------------------------------------------------- */

static int name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len >= RELAY_MAX_NAME) return 0;
    for (const char *p = name; *p; p++)
        if (!isgraph((unsigned char)*p) || *p == '=' || *p == ',') return 0;
    return strcasecmp(name, "CPU") != 0 && strcasecmp(name, "GPU") != 0;
}

static int add_custom(relay__offer_t *o, const char *name, size_t len, double q, const char *what,
                      int bad)
{
    char nm[RELAY_MAX_NAME];
    int too_long = len >= sizeof nm;
    if (too_long) len = sizeof nm - 1;
    memcpy(nm, name, len);
    nm[len] = '\0';
    if (too_long || !name_ok(nm))
        return relay__error(bad,
                            "%s: resource name '%s' is not 1..%d printable characters without "
                            "'=', ',' or spaces, or is CPU/GPU",
                            what, nm, RELAY_MAX_NAME - 1);
    if (o->ncustom == RELAY_MAX_RESOURCES)
        return relay__error(bad, "%s: more than %d resources", what, RELAY_MAX_RESOURCES);
    for (uint32_t i = 0; i < o->ncustom; i++)
        if (strcmp(o->names[i], nm) == 0)
            return relay__error(bad, "%s: resource '%s' is named twice", what, nm);
    int64_t u = 0;
    char qwhat[RELAY_MAX_NAME + 64];
    snprintf(qwhat, sizeof qwhat, "%s: quantity of '%s'", what, nm);
    int rc = relay__units_from(q, qwhat, &u);
    if (rc) return relay__error(bad, "%s", relay_last_error());
    memcpy(o->names[o->ncustom], nm, len + 1);
    o->units[o->ncustom++] = u;
    return RELAY_OK;
}

int relay__offer_set(relay__offer_t *o, const relay_resource_t *res, size_t n, const char *what,
                     int bad)
{
    o->ncustom = 0;
    if (n && !res) return relay__error(bad, "%s: resources is NULL", what);
    if (n > RELAY_MAX_RESOURCES)
        return relay__error(bad, "%s: %zu resources, at most %d", what, n, RELAY_MAX_RESOURCES);
    for (size_t i = 0; i < n; i++) {
        const char *nm = res[i].name ? res[i].name : "";
        size_t len = strnlen(nm, RELAY_MAX_NAME);
        int rc = add_custom(o, nm, len, res[i].quantity, what, bad);
        if (rc) return rc;
    }
    return RELAY_OK;
}

int relay__offer_parse(relay__offer_t *o, const char *spec, const char *what)
{
    o->ncustom = 0;
    const char *p = spec;
    while (*p) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        if (!eq || eq > end)
            return relay__error(RELAY_ERR_CONFIG, "%s = '%s': expected name=quantity[,...]", what,
                                spec);
        char num[64], *stop;
        size_t nlen = (size_t)(end - eq - 1);
        if (nlen == 0 || nlen >= sizeof num)
            return relay__error(RELAY_ERR_CONFIG, "%s = '%s': bad quantity", what, spec);
        memcpy(num, eq + 1, nlen);
        num[nlen] = '\0';
        errno = 0;
        double q = strtod(num, &stop);
        if (*stop || errno)
            return relay__error(RELAY_ERR_CONFIG, "%s = '%s': '%s' is not a number", what, spec,
                                num);
        int rc = add_custom(o, p, (size_t)(eq - p), q, what, RELAY_ERR_CONFIG);
        if (rc) return rc;
        if (*end && !end[1])
            return relay__error(RELAY_ERR_CONFIG, "%s = '%s': empty entry after ','", what, spec);
        p = *end ? end + 1 : end;
    }
    return RELAY_OK;
}

/* ---------------------------------------------------------------------- */
/* The cluster table                                                        */
/* ---------------------------------------------------------------------- */

const relay__cluster_t *relay__cluster(void)
{
    return relay__g.cluster;
}

void relay__cluster_destroy(void)
{
    relay__cluster_t *c = relay__g.cluster;
    if (!c) return;
    for (uint32_t i = 0; i < c->ncustom; i++)
        free(c->names[i]);
    free(c->names);
    free(c->cpu);
    free(c->ngpu);
    free(c->threads);
    free(c->custom);
    free(c);
    relay__g.cluster = NULL;
}

int relay__cluster_index(const char *name)
{
    const relay__cluster_t *c = relay__cluster();
    size_t lo = 0, hi = c->ncustom;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(c->names[mid], name);
        if (cmp == 0) return (int)mid;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every rank's offer, as [i64 cpu][u32 ngpu][u32 threads][u32 n]
 * [(str name, i64 units) x n]. */
static int gather_offers(MPI_Comm comm, int64_t cpu, int ngpu, int threads, const relay__offer_t *o,
                         uint8_t **all_p, int **offs_p)
{
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__put_u64(&w, (uint64_t)cpu);
    relay__put_u32(&w, (uint32_t)ngpu);
    relay__put_u32(&w, (uint32_t)threads);
    relay__put_u32(&w, o->ncustom);
    for (uint32_t i = 0; i < o->ncustom; i++) {
        relay__put_str(&w, o->names[i]);
        relay__put_u64(&w, (uint64_t)o->units[i]);
    }
    int n = relay__g.size, len = (int)w.len;
    int *lens = malloc((size_t)n * sizeof *lens), *offs = malloc(((size_t)n + 1) * sizeof *offs);
    /* Everyone takes part in the same collectives, short of memory or not:
     * agree first, then exchange. */
    int mine = !w.oom && lens && offs, every = 0;
    MPI_Allreduce(&mine, &every, 1, MPI_INT, MPI_MIN, comm);
    uint8_t *all = NULL;
    if (every) {
        MPI_Allgather(&len, 1, MPI_INT, lens, 1, MPI_INT, comm);
        offs[0] = 0;
        for (int r = 0; r < n; r++)
            offs[r + 1] = offs[r] + lens[r];
        all = malloc((size_t)offs[n] + 1);
        mine = all != NULL;
        MPI_Allreduce(&mine, &every, 1, MPI_INT, MPI_MIN, comm);
    }
    if (every) MPI_Allgatherv(w.data, len, MPI_BYTE, all, lens, offs, MPI_BYTE, comm);
    relay__wbuf_free(&w);
    free(lens);
    if (!every) {
        free(all);
        free(offs);
        return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory sharing resources");
    }
    *all_p = all;
    *offs_p = offs;
    return RELAY_OK;
}

/* Sorted distinct custom names of every rank. */
static int collect_names(relay__cluster_t *c, const uint8_t *all, const int *offs)
{
    size_t cap = 0, n = 0;
    for (int r = 0; r < c->nranks; r++) {
        relay__rbuf_t rb;
        relay__rbuf_init(&rb, all + offs[r], (size_t)(offs[r + 1] - offs[r]));
        relay__get_u64(&rb);
        relay__get_u32(&rb);
        relay__get_u32(&rb);
        uint32_t k = relay__get_u32(&rb);
        for (uint32_t i = 0; i < k && !rb.err; i++) {
            const char *nm = relay__get_str(&rb);
            relay__get_u64(&rb);
            int seen = 0;
            for (size_t j = 0; j < n && !seen; j++)
                seen = strcmp(c->names[j], nm) == 0;
            if (seen) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                char **nn = realloc(c->names, cap * sizeof *nn);
                if (!nn) return -1;
                c->names = nn;
            }
            if (!(c->names[n] = strdup(nm))) return -1;
            c->ncustom = (uint32_t)++n;
        }
    }
    if (n) qsort(c->names, n, sizeof *c->names, cmp_names);
    return 0;
}

static void fill_table(relay__cluster_t *c, const uint8_t *all, const int *offs)
{
    for (int r = 0; r < c->nranks; r++) {
        relay__rbuf_t rb;
        relay__rbuf_init(&rb, all + offs[r], (size_t)(offs[r + 1] - offs[r]));
        c->cpu[r] = (int64_t)relay__get_u64(&rb);
        c->ngpu[r] = (int)relay__get_u32(&rb);
        c->threads[r] = (int)relay__get_u32(&rb);
        uint32_t k = relay__get_u32(&rb);
        for (uint32_t i = 0; i < k && !rb.err; i++) {
            const char *nm = relay__get_str(&rb);
            int64_t u = (int64_t)relay__get_u64(&rb);
            int idx = relay__cluster_index(nm);
            if (idx >= 0) c->custom[(size_t)r * c->ncustom + (size_t)idx] = u;
        }
    }
}

int relay__cluster_init(MPI_Comm comm, int64_t cpu_units, int ngpu, int threads,
                        const relay__offer_t *o)
{
    uint8_t *all = NULL;
    int *offs = NULL;
    int rc = gather_offers(comm, cpu_units, ngpu, threads, o, &all, &offs);
    if (rc) return rc;
    relay__cluster_t *c = calloc(1, sizeof *c);
    if (c) {
        c->nranks = relay__g.size;
        relay__g.cluster = c;
    }
    int n = relay__g.size;
    if (!c || collect_names(c, all, offs) != 0 || !(c->cpu = calloc((size_t)n, sizeof *c->cpu)) ||
        !(c->ngpu = calloc((size_t)n, sizeof *c->ngpu)) ||
        !(c->threads = calloc((size_t)n, sizeof *c->threads)) ||
        !(c->custom = calloc((size_t)n * (c->ncustom ? c->ncustom : 1), sizeof *c->custom))) {
        free(all);
        free(offs);
        relay__cluster_destroy();
        return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory sharing resources");
    }
    fill_table(c, all, offs);
    free(all);
    free(offs);
    return RELAY_OK;
}

/* ---------------------------------------------------------------------- */
/* Demands                                                                  */
/* ---------------------------------------------------------------------- */

void relay__demand_default(relay__demand_t *d)
{
    d->cpu = RELAY__UNIT;
    d->gpu = 0;
    d->ncustom = 0;
}

int relay__demand_is_default(const relay__demand_t *d)
{
    return d->cpu == RELAY__UNIT && d->gpu == 0 && d->ncustom == 0;
}

/* GPUs are whole devices or a fraction of one device. */
static int gpus_fit(int64_t want, int ngpu)
{
    return want <= RELAY__UNIT ? (want == 0 || ngpu >= 1) : want / RELAY__UNIT <= ngpu;
}

int relay__demand_fits_capacity(const relay__demand_t *d, int r)
{
    const relay__cluster_t *c = relay__cluster();
    if (c->cpu[r] <= 0 || d->cpu > c->cpu[r] || !gpus_fit(d->gpu, c->ngpu[r])) return 0;
    for (uint32_t i = 0; i < d->ncustom; i++)
        if (c->custom[(size_t)r * c->ncustom + d->custom[i].idx] < d->custom[i].units) return 0;
    return 1;
}

static void append(char *buf, size_t n, size_t *len, const char *fmt, const char *a, const char *b)
{
    if (*len >= n) return;
    int k = snprintf(buf + *len, n - *len, fmt, a, b);
    if (k > 0) *len += (size_t)k;
}

void relay__demand_format(const relay__demand_t *d, char *buf, size_t n)
{
    const relay__cluster_t *c = relay__cluster();
    char q[32];
    size_t len = 0;
    buf[0] = '\0';
    relay__units_format(d->cpu, q, sizeof q);
    append(buf, n, &len, "%s %s", q, d->cpu == RELAY__UNIT ? "CPU" : "CPUs");
    if (d->gpu) {
        relay__units_format(d->gpu, q, sizeof q);
        append(buf, n, &len, ", %s %s", q, d->gpu <= RELAY__UNIT ? "GPU" : "GPUs");
    }
    for (uint32_t i = 0; i < d->ncustom; i++) {
        relay__units_format(d->custom[i].units, q, sizeof q);
        append(buf, n, &len, ", %s: %s", c->names[d->custom[i].idx], q);
    }
}

/* The most any worker rank offers of one resource kind, and where. */
static int64_t most_offered(int kind, uint32_t idx, int *rank_p)
{
    const relay__cluster_t *c = relay__cluster();
    int64_t best = -1;
    *rank_p = -1;
    for (int r = 0; r < c->nranks; r++) {
        if (c->cpu[r] <= 0) continue;
        int64_t v = kind == 0   ? c->cpu[r]
                    : kind == 1 ? (int64_t)c->ngpu[r] * RELAY__UNIT
                                : c->custom[(size_t)r * c->ncustom + idx];
        if (v > best) {
            best = v;
            *rank_p = r;
        }
    }
    return best;
}

/* "4 CPUs (rank 1)", "license: 2 (rank 1)" after what buf holds;
 * returns the most offered. */
static int64_t describe_most(char *buf, size_t n, size_t *len, int kind, uint32_t idx)
{
    int r;
    int64_t most = most_offered(kind, idx, &r);
    char q[32], item[RELAY_MAX_NAME + 64];
    relay__units_format(most < 0 ? 0 : most, q, sizeof q);
    if (kind == 2)
        snprintf(item, sizeof item, "%s: %s", relay__cluster()->names[idx], q);
    else
        snprintf(item, sizeof item, "%s %s%s", q, kind ? "GPU" : "CPU",
                 most == RELAY__UNIT ? "" : "s");
    if (r >= 0) snprintf(q, sizeof q, " (rank %d)", r);
    append(buf, n, len, *len ? ", %s%s" : "%s%s", item, r >= 0 ? q : "");
    return most;
}

static int infeasible(const char *fn, const relay__demand_t *d)
{
    char asked[512], offer[512];
    size_t len = 0;
    relay__demand_format(d, asked, sizeof asked);
    offer[0] = '\0';
    int each_somewhere = describe_most(offer, sizeof offer, &len, 0, 0) >= d->cpu;
    if (d->gpu) {
        int64_t most = describe_most(offer, sizeof offer, &len, 1, 0);
        each_somewhere &= gpus_fit(d->gpu, (int)(most / RELAY__UNIT));
    }
    for (uint32_t i = 0; i < d->ncustom; i++)
        each_somewhere &=
            describe_most(offer, sizeof offer, &len, 2, d->custom[i].idx) >= d->custom[i].units;
    return relay__error(RELAY_ERR_INFEASIBLE,
                        "relay_submit(%s): no rank can run this task: it asks for %s; the most "
                        "a rank offers is %s%s",
                        fn, asked, offer, each_somewhere ? ", but no rank offers all of it" : "");
}

static int cmp_amount(const void *a, const void *b)
{
    const relay__amount_t *x = a, *y = b;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int custom_demand(const char *fn, const relay_task_opts_t *o, relay__demand_t *d)
{
    relay__offer_t asked;
    char what[RELAY_MAX_NAME + 32];
    snprintf(what, sizeof what, "relay_submit(%s)", fn);
    int rc = relay__offer_set(&asked, o->resources, o->num_resources, what, RELAY_ERR_INVALID_ARG);
    if (rc) return rc;
    for (uint32_t i = 0; i < asked.ncustom; i++) {
        if (asked.units[i] == 0)
            return relay__error(RELAY_ERR_INVALID_ARG, "%s: resource '%s' asks for 0", what,
                                asked.names[i]);
        int idx = relay__cluster_index(asked.names[i]);
        if (idx < 0)
            return relay__error(RELAY_ERR_INFEASIBLE,
                                "%s: no rank can run this task: no rank offers resource '%s'", what,
                                asked.names[i]);
        d->custom[d->ncustom].idx = (uint32_t)idx;
        d->custom[d->ncustom++].units = asked.units[i];
    }
    qsort(d->custom, d->ncustom, sizeof d->custom[0], cmp_amount);
    return RELAY_OK;
}

int relay__demand_make(const char *fn, const relay_task_opts_t *o, relay__demand_t *d)
{
    relay__demand_default(d);
    if (!o) return RELAY_OK;
    char what[RELAY_MAX_NAME + 48];
    int rc;
    if (o->field_mask & RELAY_TASK_OPT_NUM_CPUS) {
        snprintf(what, sizeof what, "relay_submit(%s): num_cpus", fn);
        if ((rc = relay__units_from(o->num_cpus, what, &d->cpu))) return rc;
    }
    if (o->field_mask & RELAY_TASK_OPT_NUM_GPUS) {
        snprintf(what, sizeof what, "relay_submit(%s): num_gpus", fn);
        if ((rc = relay__units_from(o->num_gpus, what, &d->gpu))) return rc;
        if (d->gpu > RELAY__UNIT && d->gpu % RELAY__UNIT)
            return relay__error(RELAY_ERR_INVALID_ARG,
                                "%s = %g: above 1, GPUs come whole (a fraction shares one "
                                "device)",
                                what, o->num_gpus);
    }
    if ((o->field_mask & RELAY_TASK_OPT_RESOURCES) && (rc = custom_demand(fn, o, d))) return rc;
    for (int r = 0; r < relay__g.size; r++)
        if (relay__demand_fits_capacity(d, r)) return RELAY_OK;
    return infeasible(fn, d);
}

int relay__demand_feasible(const relay__demand_t *d)
{
    for (uint32_t i = 0; i < d->ncustom; i++)
        if (d->custom[i].idx >= relay__cluster()->ncustom) return 0;
    for (int r = 0; r < relay__g.size; r++)
        if (relay__demand_fits_capacity(d, r)) return 1;
    return 0;
}
