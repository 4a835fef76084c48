/* Resources (resources.c): quantities in units and back; offers parsed
 * from RELAY_RESOURCES specs and arrays (each bad one rejected with its
 * status); demands made from task options, checked against a hand-built
 * cluster table, formatted, encoded and decoded (malformed records
 * refused); then the table built by relay__cluster_init over a singleton
 * MPI_COMM_WORLD (no relay_init). */
#include <math.h>

#include "log.h"
#include "records.h"
#include "resources.h"
#include "runtime.h"
#include "testutil.h"

#define U RELAY__UNIT

/* ---- quantities ----------------------------------------------------------- */

static void units_ok(double q, int64_t want)
{
    int64_t u = -7;
    CHECK_OK(relay__units_from(q, "q", &u));
    CHECK_EQ(u, want);
}

static void units_bad(double q)
{
    int64_t u = -7;
    CHECK_STATUS(relay__units_from(q, "the quantity", &u), RELAY_ERR_INVALID_ARG);
    CHECK_CONTAINS(relay_last_error(), "the quantity");
    CHECK_EQ(u, -7); /* outputs only on success */
}

static void format_is(int64_t units, const char *want)
{
    char buf[32];
    relay__units_format(units, buf, sizeof buf);
    CHECK_STREQ(buf, want);
}

static void quantities(void)
{
    units_ok(0, 0);
    units_ok(1, U);
    units_ok(0.5, U / 2);
    units_ok(0.0001, 1);
    units_ok(0.1, 1000); /* not exact as a double: rounds to its unit */
    units_ok(0.3, 3000);
    units_ok(2.0001, 20001);
    units_ok(1e9, (int64_t)1e9 * U);
    units_bad(-1);
    units_bad(-0.0001);
    units_bad(NAN);
    units_bad(INFINITY);
    units_bad(1e9 + 1);
    units_bad(0.00005);  /* half a unit */
    units_bad(1.00005);  /* between two units */
    units_bad(0.000011); /* 0.11 of a unit */

    format_is(0, "0");
    format_is(U, "1");
    format_is(U / 2, "0.5");
    format_is(1, "0.0001");
    format_is(1000, "0.1");
    format_is(12500, "1.25");
    format_is(20001, "2.0001");
    format_is(123450000, "12345");
    format_is((int64_t)1e9 * U, "1000000000");

    /* Every format reads back as the same units. */
    for (int64_t u = 0; u < 3 * U; u += 7) {
        char buf[32], *end;
        relay__units_format(u, buf, sizeof buf);
        double q = strtod(buf, &end);
        CHECK_EQ(*end, '\0');
        units_ok(q, u);
    }

    /* A short buffer is cut, never overrun. */
    char small[8];
    memset(small, 'x', sizeof small);
    relay__units_format(20001, small, 4);
    CHECK_STREQ(small, "2.0");
    CHECK_EQ(small[4], 'x');
}

/* ---- offers --------------------------------------------------------------- */

static void parse_ok(const char *spec, uint32_t n, const char *const *names, const int64_t *units)
{
    relay__offer_t o;
    memset(&o, 0xa5, sizeof o);
    CHECK_OK(relay__offer_parse(&o, spec, "RELAY_RESOURCES"));
    CHECK_EQ(o.ncustom, n);
    for (uint32_t i = 0; i < n; i++) {
        CHECK_STREQ(o.names[i], names[i]);
        CHECK_EQ(o.units[i], units[i]);
    }
}

static void parse_bad(const char *spec)
{
    relay__offer_t o;
    relay__set_last_error("");
    int rc = relay__offer_parse(&o, spec, "RELAY_RESOURCES");
    if (rc != RELAY_ERR_CONFIG) fprintf(stderr, "spec '%s' was not refused\n", spec);
    CHECK_STATUS(rc, RELAY_ERR_CONFIG);
    CHECK_CONTAINS(relay_last_error(), "RELAY_RESOURCES");
}

static void offers(void)
{
    parse_ok("", 0, NULL, NULL);
    parse_ok("license=2", 1, (const char *const[]){"license"}, (const int64_t[]){2 * U});
    parse_ok("b=1,a=0.5,c=0", 3, (const char *const[]){"b", "a", "c"},
             (const int64_t[]){U, U / 2, 0});
    parse_ok("fpga:x=1e2,my.res_1=0.0001", 2, (const char *const[]){"fpga:x", "my.res_1"},
             (const int64_t[]){100 * U, 1});
    char longest[RELAY_MAX_NAME + 8];
    memset(longest, 'n', RELAY_MAX_NAME - 1);
    strcpy(longest + RELAY_MAX_NAME - 1, "=3");
    relay__offer_t o;
    CHECK_OK(relay__offer_parse(&o, longest, "RELAY_RESOURCES"));
    CHECK_EQ(strlen(o.names[0]), RELAY_MAX_NAME - 1);
    /* As many as RELAY_MAX_RESOURCES. */
    char many[400] = "";
    for (int i = 0; i < RELAY_MAX_RESOURCES; i++)
        sprintf(many + strlen(many), "%sr%d=1", i ? "," : "", i);
    CHECK_OK(relay__offer_parse(&o, many, "RELAY_RESOURCES"));
    CHECK_EQ(o.ncustom, RELAY_MAX_RESOURCES);

    static const char *const bad[] = {
        "license",             /* no '=' */
        "=2",                  /* no name */
        "a=",                  /* no quantity */
        "a=x",                 /* not a number */
        "a=1x",                /* trailing junk */
        "a=1 ",                /* trailing space */
        "a=-1",                /* negative */
        "a=nan",               /* not finite */
        "a=inf",               /* not finite */
        "a=2e9",               /* too large */
        "a=0.00001",           /* not a multiple of 1/10000 */
        "a=1,",                /* empty entry at the end */
        ",a=1",                /* empty entry at the start */
        "a=1,,b=2",            /* empty entry inside */
        "a,b=1",               /* an entry without '=' */
        "a=1,a=2",             /* named twice */
        "CPU=1",               /* reserved */
        "gpu=1",               /* reserved, any case */
        " a=1",                /* space in the name */
        "a b=1",               /* space in the name */
        "a=1=2",               /* '=' in the quantity */
        "a\tb=1",              /* control character */
        "\xc3\xa9t\xc3\xa9=1", /* not printable ASCII */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(bad[i]);
    /* One name too long, one resource too many, one quantity too long. */
    memset(longest, 'n', RELAY_MAX_NAME);
    strcpy(longest + RELAY_MAX_NAME, "=3");
    parse_bad(longest);
    strcat(many, ",extra=1");
    parse_bad(many);
    char longnum[100] = "a=1.";
    memset(longnum + 4, '0', 70);
    longnum[74] = '\0';
    parse_bad(longnum);

    /* The array form (task options) says INVALID_ARG, or what it is told. */
    relay_resource_t res[RELAY_MAX_RESOURCES + 1];
    CHECK_OK(relay__offer_set(&o, (relay_resource_t[]){{"x", 1.5}, {"y", 2}}, 2, "opts",
                              RELAY_ERR_INVALID_ARG));
    CHECK_EQ(o.ncustom, 2);
    CHECK_EQ(o.units[0], 15000);
    CHECK_STREQ(o.names[1], "y");
    CHECK_OK(relay__offer_set(&o, NULL, 0, "opts", RELAY_ERR_INVALID_ARG));
    CHECK_EQ(o.ncustom, 0);
    CHECK_STATUS(relay__offer_set(&o, NULL, 1, "opts", RELAY_ERR_INVALID_ARG),
                 RELAY_ERR_INVALID_ARG);
    for (int i = 0; i <= RELAY_MAX_RESOURCES; i++)
        res[i] = (relay_resource_t){"r", 1};
    CHECK_STATUS(relay__offer_set(&o, res, RELAY_MAX_RESOURCES + 1, "opts", RELAY_ERR_INVALID_ARG),
                 RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay__offer_set(&o, (relay_resource_t[]){{NULL, 1}}, 1, "opts", RELAY_ERR_CONFIG),
                 RELAY_ERR_CONFIG);
    CHECK_STATUS(
        relay__offer_set(&o, (relay_resource_t[]){{"", 1}}, 1, "opts", RELAY_ERR_INVALID_ARG),
        RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(
        relay__offer_set(&o, (relay_resource_t[]){{"x", -2}}, 1, "opts", RELAY_ERR_INVALID_ARG),
        RELAY_ERR_INVALID_ARG);
    CHECK_STATUS(relay__offer_set(&o, (relay_resource_t[]){{"x", 1}, {"x", 2}}, 2, "opts",
                                  RELAY_ERR_INVALID_ARG),
                 RELAY_ERR_INVALID_ARG);
    CHECK_CONTAINS(relay_last_error(), "named twice");
}

/* ---- demands against a hand-built table ------------------------------------ */

/* Rank 0 hosts no workers; rank 1: 4 CPUs, 2 GPUs, alpha 1, license 2;
 * rank 2: 2 CPUs, no GPU, license 5, zeta 0.5. */
static char *names3[] = {"alpha", "license", "zeta"};
static int64_t cpu3[] = {0, 4 * U, 2 * U};
static int ngpu3[] = {0, 2, 0};
static int threads3[] = {0, 4, 2};
static int64_t custom3[] = {0, 0, 0, U, 2 * U, 0, 0, 5 * U, U / 2};
static relay__cluster_t table3 = {3, 3, names3, cpu3, ngpu3, threads3, custom3};

static void use_table3(void)
{
    relay__g.cluster = &table3;
    relay__g.size = 3;
    relay__g.rank = 0;
}

/* Which ranks d fits, as bits. */
static int fits_mask(const relay__demand_t *d)
{
    int m = 0;
    for (int r = 0; r < relay__cluster()->nranks; r++)
        m |= relay__demand_fits_capacity(d, r) << r;
    return m;
}

static relay_task_opts_t opts_cpus_gpus(double cpus, double gpus)
{
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_NUM_CPUS | RELAY_TASK_OPT_NUM_GPUS;
    o.num_cpus = cpus;
    o.num_gpus = gpus;
    return o;
}

static relay_task_opts_t opts_res(const relay_resource_t *res, size_t n)
{
    relay_task_opts_t o;
    memset(&o, 0, sizeof o);
    o.field_mask = RELAY_TASK_OPT_RESOURCES;
    o.resources = res;
    o.num_resources = n;
    return o;
}

/* d made from o fits exactly the ranks in mask. */
static void make_fits(relay_task_opts_t o, int mask, relay__demand_t *d)
{
    CHECK_OK(relay__demand_make("f", &o, d));
    CHECK_EQ(fits_mask(d), mask);
}

static void make_fails(relay_task_opts_t o, int status, const char *says)
{
    relay__demand_t d;
    CHECK_STATUS(relay__demand_make("f", &o, &d), status);
    CHECK_CONTAINS(relay_last_error(), says);
}

static void format_demand(const relay__demand_t *d, const char *want)
{
    char buf[256];
    relay__demand_format(d, buf, sizeof buf);
    CHECK_STREQ(buf, want);
}

static void cluster_lookup(void)
{
    CHECK_EQ(relay__cluster_index("alpha"), 0);
    CHECK_EQ(relay__cluster_index("license"), 1);
    CHECK_EQ(relay__cluster_index("zeta"), 2);
    CHECK_EQ(relay__cluster_index("aaa"), -1);
    CHECK_EQ(relay__cluster_index("beta"), -1);
    CHECK_EQ(relay__cluster_index("zzz"), -1);
    CHECK_EQ(relay__cluster_index(""), -1);
    CHECK_EQ(relay__cluster_index("License"), -1);
}

static void demands(void)
{
    relay__demand_t d;
    relay__demand_default(&d);
    CHECK_EQ(d.cpu, U);
    CHECK_EQ(d.gpu, 0);
    CHECK_EQ(d.ncustom, 0);
    CHECK(relay__demand_is_default(&d));
    CHECK_EQ(fits_mask(&d), 6); /* never rank 0: it has no CPUs */
    format_demand(&d, "1 CPU");
    d.cpu = 0;
    CHECK(!relay__demand_is_default(&d));
    CHECK_EQ(fits_mask(&d), 6);
    relay__demand_default(&d);
    d.gpu = 1;
    CHECK(!relay__demand_is_default(&d));
    relay__demand_default(&d);
    d.ncustom = 1;
    d.custom[0] = (relay__amount_t){0, 1};
    CHECK(!relay__demand_is_default(&d));

    /* No options, or none flagged: the default. */
    memset(&d, 0x5a, sizeof d);
    CHECK_OK(relay__demand_make("f", NULL, &d));
    CHECK(relay__demand_is_default(&d));
    relay_task_opts_t unflagged = opts_cpus_gpus(100, 100);
    unflagged.field_mask = RELAY_TASK_OPT_NAME;
    CHECK_OK(relay__demand_make("f", &unflagged, &d));
    CHECK(relay__demand_is_default(&d));

    make_fits(opts_cpus_gpus(2, 0), 6, &d);
    CHECK_EQ(d.cpu, 2 * U);
    format_demand(&d, "2 CPUs");
    make_fits(opts_cpus_gpus(3, 0), 2, &d);
    make_fits(opts_cpus_gpus(0, 0), 6, &d);
    make_fits(opts_cpus_gpus(0.5, 0.5), 2, &d);
    CHECK_EQ(d.gpu, U / 2);
    format_demand(&d, "0.5 CPUs, 0.5 GPU");
    make_fits(opts_cpus_gpus(1, 2), 2, &d);
    format_demand(&d, "1 CPU, 2 GPUs");
    make_fits(opts_cpus_gpus(1.25, 1), 2, &d);
    format_demand(&d, "1.25 CPUs, 1 GPU");

    make_fails(opts_cpus_gpus(5, 0), RELAY_ERR_INFEASIBLE, "4 CPUs (rank 1)");
    make_fails(opts_cpus_gpus(1, 3), RELAY_ERR_INFEASIBLE, "no rank can run this task");
    make_fails(opts_cpus_gpus(1, 1.5), RELAY_ERR_INVALID_ARG, "GPUs come whole");
    make_fails(opts_cpus_gpus(-1, 0), RELAY_ERR_INVALID_ARG, "num_cpus");
    make_fails(opts_cpus_gpus(NAN, 0), RELAY_ERR_INVALID_ARG, "num_cpus");
    make_fails(opts_cpus_gpus(1, -0.5), RELAY_ERR_INVALID_ARG, "num_gpus");
    make_fails(opts_cpus_gpus(0.00001, 0), RELAY_ERR_INVALID_ARG, "not a multiple");

    /* Custom resources: sorted by their index in the table. */
    make_fits(opts_res((relay_resource_t[]){{"zeta", 0.5}, {"license", 1}}, 2), 4, &d);
    CHECK_EQ(d.ncustom, 2);
    CHECK_EQ(d.custom[0].idx, 1);
    CHECK_EQ(d.custom[0].units, U);
    CHECK_EQ(d.custom[1].idx, 2);
    CHECK_EQ(d.custom[1].units, U / 2);
    format_demand(&d, "1 CPU, license: 1, zeta: 0.5");
    make_fits(opts_res((relay_resource_t[]){{"license", 2}}, 1), 6, &d);
    make_fits(opts_res((relay_resource_t[]){{"license", 3}}, 1), 4, &d);
    make_fits(opts_res((relay_resource_t[]){{"alpha", 1}, {"license", 2}}, 2), 2, &d);
    /* Each somewhere, not together. */
    make_fails(opts_res((relay_resource_t[]){{"alpha", 1}, {"license", 3}}, 2),
               RELAY_ERR_INFEASIBLE, "but no rank offers all of it");
    make_fails(opts_res((relay_resource_t[]){{"license", 6}}, 1), RELAY_ERR_INFEASIBLE,
               "license: 5 (rank 2)");
    make_fails(opts_res((relay_resource_t[]){{"nosuch", 1}}, 1), RELAY_ERR_INFEASIBLE,
               "no rank offers resource 'nosuch'");
    make_fails(opts_res((relay_resource_t[]){{"license", 0}}, 1), RELAY_ERR_INVALID_ARG,
               "asks for 0");
    make_fails(opts_res((relay_resource_t[]){{"license", 1}, {"license", 1}}, 2),
               RELAY_ERR_INVALID_ARG, "named twice");
    make_fails(opts_res((relay_resource_t[]){{"GPU", 1}}, 1), RELAY_ERR_INVALID_ARG, "CPU/GPU");
    make_fails(opts_res(NULL, 1), RELAY_ERR_INVALID_ARG, "resources is NULL");

    /* A short buffer is cut, never overrun. */
    char small[12];
    memset(small, 'x', sizeof small);
    make_fits(opts_res((relay_resource_t[]){{"license", 1}}, 1), 6, &d);
    relay__demand_format(&d, small, 8);
    CHECK_EQ(strlen(small), 7);
    CHECK_EQ(small[8], 'x');
}

/* Encode then decode gives the demand back; a record cut short, out of
 * range or out of order is refused. (Indices are checked against the
 * cluster table by rank 0's SUBMIT handler, not the decoder.) */
static int decode(const relay__demand_t *in, size_t cut, relay__demand_t *out)
{
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__demand_encode(&w, in);
    CHECK(!w.oom);
    CHECK_LE(cut, w.len);
    relay__rbuf_t r;
    relay__rbuf_init(&r, w.data, w.len - cut);
    int rc = relay__demand_decode(&r, out);
    relay__wbuf_free(&w);
    return rc;
}

static void encoding(void)
{
    relay__demand_t d = {2 * U, U / 2, 2, {{0, 1}, {2, 3 * U}}}, got;
    memset(&got, 0, sizeof got);
    CHECK_EQ(decode(&d, 0, &got), 0);
    CHECK_EQ(got.cpu, d.cpu);
    CHECK_EQ(got.gpu, d.gpu);
    CHECK_EQ(got.ncustom, 2);
    CHECK_EQ(got.custom[1].idx, 2);
    CHECK_EQ(got.custom[1].units, 3 * U);
    for (size_t cut = 1; cut <= 8; cut++)
        CHECK_EQ(decode(&d, cut, &got), -1);

    relay__demand_t bad = d;
    bad.custom[1].idx = 0; /* the same resource twice: it would be counted once */
    CHECK_EQ(decode(&bad, 0, &got), -1);
    bad = d;
    bad.custom[0].idx = 3; /* out of order */
    CHECK_EQ(decode(&bad, 0, &got), -1);
    bad = d;
    bad.custom[0].units = 0;
    CHECK_EQ(decode(&bad, 0, &got), -1);
    bad = d;
    bad.cpu = -1;
    CHECK_EQ(decode(&bad, 0, &got), -1);
    bad = d;
    bad.gpu = -U;
    CHECK_EQ(decode(&bad, 0, &got), -1);

    /* More entries than a demand holds. */
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__put_u64(&w, U);
    relay__put_u64(&w, 0);
    relay__put_u32(&w, RELAY_MAX_RESOURCES + 1);
    for (int i = 0; i <= RELAY_MAX_RESOURCES; i++) {
        relay__put_u32(&w, 0);
        relay__put_u64(&w, 1);
    }
    relay__rbuf_t r;
    relay__rbuf_init(&r, w.data, w.len);
    CHECK_EQ(relay__demand_decode(&r, &got), -1);
    relay__wbuf_free(&w);
}

/* ---- the table from relay__cluster_init ------------------------------------ */

static void cluster_from_mpi(void)
{
    CHECK_EQ(MPI_Init(NULL, NULL), MPI_SUCCESS);
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 1) {
        fprintf(stderr, "unit_resources: run it as one process\n");
        MPI_Finalize();
        exit(TEST_SKIP);
    }
    relay__g.cluster = NULL;
    relay__g.size = 1;
    relay__g.rank = 0;
    relay__offer_t o;
    CHECK_OK(relay__offer_parse(&o, "zeta=1,alpha=2.5,mid=0", "RELAY_RESOURCES"));
    CHECK_OK(relay__cluster_init(MPI_COMM_WORLD, 3 * U, 2, 5, &o));
    const relay__cluster_t *c = relay__cluster();
    CHECK(c != NULL);
    CHECK_EQ(c->nranks, 1);
    CHECK_EQ(c->cpu[0], 3 * U);
    CHECK_EQ(c->ngpu[0], 2);
    CHECK_EQ(c->threads[0], 5);
    /* Names sorted, so every rank numbers them alike. */
    CHECK_EQ(c->ncustom, 3);
    CHECK_STREQ(c->names[0], "alpha");
    CHECK_STREQ(c->names[1], "mid");
    CHECK_STREQ(c->names[2], "zeta");
    CHECK_EQ(c->custom[0], 25000);
    CHECK_EQ(c->custom[1], 0);
    CHECK_EQ(c->custom[2], U);
    CHECK_EQ(relay__cluster_index("zeta"), 2);

    relay__demand_t d;
    relay_task_opts_t opts = opts_res((relay_resource_t[]){{"alpha", 2.5}, {"zeta", 1}}, 2);
    CHECK_OK(relay__demand_make("f", &opts, &d));
    CHECK_EQ(fits_mask(&d) & 1, 1);
    make_fails(opts_res((relay_resource_t[]){{"mid", 1}}, 1), RELAY_ERR_INFEASIBLE, "mid: 0");
    make_fails(opts_cpus_gpus(4, 0), RELAY_ERR_INFEASIBLE, "3 CPUs (rank 0)");

    relay__cluster_destroy();
    CHECK(relay__cluster() == NULL);
    relay__cluster_destroy(); /* twice is harmless */

    /* No custom resources at all. */
    CHECK_OK(relay__offer_parse(&o, "", "RELAY_RESOURCES"));
    CHECK_OK(relay__cluster_init(MPI_COMM_WORLD, U, 0, 1, &o));
    CHECK_EQ(relay__cluster()->ncustom, 0);
    CHECK_EQ(relay__cluster_index("zeta"), -1);
    make_fails(opts_cpus_gpus(1, 1), RELAY_ERR_INFEASIBLE, "0 GPUs (rank 0)");
    relay__cluster_destroy();
    MPI_Finalize();
}

int main(void)
{
    quantities();
    offers();
    use_table3();
    cluster_lookup();
    demands();
    encoding();
    cluster_from_mpi();
    printf("unit_resources: PASS\n");
    return 0;
}
