/* Every record type: a filled struct survives encode and decode field by
 * field; every cut of the encoded bytes, a byte after them, and targeted
 * corruptions (bad enum values and kinds, huge counts, missing NULs,
 * invalid ids) are rejected. No MPI and no runtime: the decoders need
 * only the job's size, set by hand. Decoding reads from an exact-size
 * copy, so a read past the end shows under AddressSanitizer. */
#include <limits.h>

#include "records.h"
#include "runtime.h"
#include "testutil.h"

#define NRANKS 4

typedef int (*decode_fn)(relay__rbuf_t *r, void *m);

/* Typed decoders as decode_fn. */
#define DECODER(name, type)                                                                        \
    static int dec_##name(relay__rbuf_t *r, void *m)                                               \
    {                                                                                              \
        return relay__rec_##name##_decode(r, (type *)m);                                           \
    }
DECODER(submit, relay__rec_submit_t)
DECODER(task, relay__rec_task_t)
DECODER(done, relay__rec_done_t)
DECODER(block, relay__rec_block_t)
DECODER(unblock, relay__rec_unblock_t)
DECODER(cancel, relay__rec_cancel_t)
DECODER(put, relay__rec_put_t)
DECODER(release, relay__rec_ids_t)
DECODER(free, relay__rec_ids_t)
DECODER(retain_check, relay__rec_req_id_t)
DECODER(get_cancel, relay__rec_req_id_t)
DECODER(kill, relay__rec_req_id_t)
DECODER(abort, relay__rec_abort_t)
DECODER(sync, relay__rec_req_id_t)
DECODER(get, relay__rec_get_t)
DECODER(get_reply, relay__rec_get_reply_t)
DECODER(reply, relay__rec_reply_t)
DECODER(fetch, relay__rec_fetch_t)
DECODER(fetch_err, relay__rec_fetch_err_t)
DECODER(lookup, relay__rec_lookup_t)
DECODER(actor_reply, relay__rec_actor_reply_t)
DECODER(actor_gone, relay__rec_actor_gone_t)
DECODER(actor_cpu, relay__rec_actor_cpu_t)
DECODER(actor_kill, relay__rec_actor_kill_t)
DECODER(ping, relay__rec_ping_t)
DECODER(pong, relay__rec_ping_t)
DECODER(rank_lost, relay__rec_rank_lost_t)
DECODER(object, relay__rec_put_t)
DECODER(subscribe, relay__rec_subscribe_t)
DECODER(recall, relay__rec_recall_t)
DECODER(recalled, relay__rec_recall_t)
DECODER(crash, relay__rec_crash_t)
DECODER(res_query, relay__rec_res_query_t)
DECODER(res_reply, relay__rec_res_reply_t)

static int dec_empty(relay__rbuf_t *r, void *m)
{
    (void)m;
    return relay__rec_empty_decode(r);
}

/* The largest decoded struct (TASK, with its GPU table). */
typedef union any_rec {
    relay__rec_submit_t submit;
    relay__rec_task_t task;
    relay__rec_done_t done;
    relay__rec_get_reply_t get_reply;
} any_rec_t;

/* Decode bytes from an exact-size copy; returns the decoder's answer and
 * (on success) the copy, which the decoded struct points into. */
static int decode_copy(const void *bytes, size_t n, decode_fn dec, void *m, void **copy_p,
                       const char **why_p)
{
    void *copy = malloc(n ? n : 1);
    CHECK(copy != NULL);
    if (n) memcpy(copy, bytes, n);
    relay__rbuf_t r;
    relay__rbuf_init(&r, copy, n);
    int rc = dec(&r, m);
    if (rc == 0) CHECK(!r.err && r.p == r.end);
    if (rc != 0) CHECK(r.err);
    if (why_p) *why_p = r.why;
    if (rc == 0 && copy_p) {
        *copy_p = copy;
    } else {
        free(copy);
    }
    return rc;
}

static unsigned long long checks;

#define CHECK_AT_EQ(file, line, a, b) CHECK_CMP_AT(file, line, a, ==, b)

/* Every cut of the record, and the record with a byte after it, fail. */
static void check_cuts_at(const char *file, int line, const relay__wbuf_t *w, decode_fn dec)
{
    any_rec_t m;
    for (size_t len = 0; len < w->len; len++) {
        if (decode_copy(w->data, len, dec, &m, NULL, NULL) != -1) {
            fprintf(stderr, "%s:%d: a cut to %zu of %zu bytes was accepted\n", file, line, len,
                    w->len);
            CHECK(0);
        }
        checks++;
    }
    uint8_t *more = malloc(w->len + 1);
    CHECK(more != NULL);
    memcpy(more, w->data, w->len);
    more[w->len] = 0;
    const char *why = NULL;
    CHECK_AT_EQ(file, line, decode_copy(more, w->len + 1, dec, &m, NULL, &why), -1);
    CHECK_STREQ(why, "trailing bytes after the record");
    free(more);
    checks++;
}
#define check_cuts(w, dec) check_cuts_at(__FILE__, __LINE__, (w), (dec))

/* The record with width bytes at off replaced by v fails; *why_p (when
 * not NULL) gets the reason. */
static void bad_at(const char *file, int line, const relay__wbuf_t *w, decode_fn dec, size_t off,
                   int width, uint64_t v, const char *want)
{
    CHECK(off + (size_t)width <= w->len);
    uint8_t *b = malloc(w->len);
    CHECK(b != NULL);
    memcpy(b, w->data, w->len);
    uint8_t v8 = (uint8_t)v;
    uint32_t v32 = (uint32_t)v;
    memcpy(b + off, width == 1 ? (const void *)&v8 : width == 4 ? (const void *)&v32 : &v, width);
    any_rec_t m;
    const char *why = NULL;
    int rc = decode_copy(b, w->len, dec, &m, NULL, &why);
    if (rc != -1) {
        fprintf(stderr, "%s:%d: %d bytes at %zu set to %llu were accepted\n", file, line, width,
                off, (unsigned long long)v);
        CHECK(0);
    }
    if (want && (!why || !strstr(why, want))) {
        fprintf(stderr, "%s:%d: rejected for \"%s\", expected \"%s\"\n", file, line,
                why ? why : "(truncated)", want);
        CHECK(0);
    }
    free(b);
    checks++;
}
#define BAD8(w, dec, off, v, want) bad_at(__FILE__, __LINE__, (w), (dec), (off), 1, (v), (want))

/* The record with 4 bytes at off replaced by v is accepted. */
static void ok32_at(const char *file, int line, const relay__wbuf_t *w, decode_fn dec, size_t off,
                    uint32_t v)
{
    CHECK(off + 4 <= w->len);
    uint8_t *b = malloc(w->len);
    CHECK(b != NULL);
    memcpy(b, w->data, w->len);
    memcpy(b + off, &v, 4);
    any_rec_t m;
    const char *why = NULL;
    int rc = decode_copy(b, w->len, dec, &m, NULL, &why);
    if (rc != 0)
        fprintf(stderr, "%s:%d: 4 bytes at %zu set to %u rejected: %s\n", file, line, off, v,
                why ? why : "truncated");
    CHECK_AT_EQ(file, line, rc, 0);
    free(b);
    checks++;
}
#define OK32(w, dec, off, v) ok32_at(__FILE__, __LINE__, (w), (dec), (off), (v))
#define BAD32(w, dec, off, v, want) bad_at(__FILE__, __LINE__, (w), (dec), (off), 4, (v), (want))
#define BAD64(w, dec, off, v, want) bad_at(__FILE__, __LINE__, (w), (dec), (off), 8, (v), (want))

/* Decode w (must succeed) into m; returns the buffer m points into. */
static void *decode_ok_at(const char *file, int line, const relay__wbuf_t *w, decode_fn dec,
                          void *m)
{
    void *copy = NULL;
    const char *why = NULL;
    int rc = decode_copy(w->data, w->len, dec, m, &copy, &why);
    if (rc != 0) fprintf(stderr, "%s:%d: rejected: %s\n", file, line, why ? why : "truncated");
    CHECK_AT_EQ(file, line, rc, 0);
    checks++;
    return copy;
}
#define decode_ok(w, dec, m) decode_ok_at(__FILE__, __LINE__, (w), (dec), (m))

/* Bytes a string takes: [u32 length][chars][NUL]. */
static size_t S(const char *s)
{
    return 4 + strlen(s) + 1;
}

static uint64_t id(int rank, uint64_t seq, unsigned idx)
{
    return relay__id_make(rank, seq, idx);
}

static void fresh(relay__wbuf_t *w)
{
    relay__wbuf_free(w);
    relay__wbuf_init(w);
}

/* ---- descriptors ----------------------------------------------------------- */

static const uint64_t refs2[2] = {UINT64_C(0x300000000100), UINT64_C(0x100000000202)};

/* Three kinds of descriptor: inline bytes with refs and an array shape,
 * a large object held elsewhere, an error. */
static const int64_t inline_vals[3] = {1, -2, 3};

static relay__desc_t desc_inline(void)
{
    relay__array_t a = {RELAY_INT64, 1, {3}};
    relay__desc_t d;
    memset(&d, 0, sizeof d);
    d.status = RELAY_OK;
    d.nrefs = 2;
    d.refs = refs2;
    d.has_array = 1;
    d.array = a;
    d.is_inline = 1;
    d.size = sizeof inline_vals;
    d.bytes = inline_vals;
    return d;
}

static relay__desc_t desc_remote(void)
{
    relay__array_t a = {RELAY_FLOAT32, 2, {1000, 500}};
    relay__desc_t d;
    relay__desc_of_remote(&d, 2000000, NULL, 0, &a, 3);
    return d;
}

static relay__desc_t desc_error(void)
{
    relay__desc_t d;
    memset(&d, 0, sizeof d);
    d.status = RELAY_ERR_TASK_FAILED;
    d.errmsg = "task 'f' failed: it said so";
    d.is_inline = 1;
    return d;
}

static void check_desc_eq(const relay__desc_t *a, const relay__desc_t *b)
{
    CHECK_STATUS(a->status, b->status);
    CHECK_EQ(a->is_inline, b->is_inline);
    if (a->status != RELAY_OK) {
        CHECK_STREQ(a->errmsg, b->errmsg);
        return;
    }
    CHECK_EQ(a->nrefs, b->nrefs);
    for (uint32_t i = 0; i < a->nrefs; i++)
        CHECK_EQ(relay__desc_ref(a, i), relay__desc_ref(b, i));
    CHECK_EQ(a->has_array, b->has_array);
    if (a->has_array) {
        CHECK_EQ(a->array.dtype, b->array.dtype);
        CHECK_EQ(a->array.ndims, b->array.ndims);
        CHECK_MEMEQ(a->array.dims, b->array.dims, sizeof a->array.dims);
    }
    CHECK_EQ(a->size, b->size);
    if (a->is_inline)
        CHECK_MEMEQ(a->bytes, b->bytes, a->size);
    else
        CHECK_EQ(a->holder, b->holder);
}

/* Bytes of an inline descriptor of desc_inline(): status, nrefs, refs,
 * ndims, dtype, dims, inline flag, size, bytes. */
enum {
    DI_NREFS = 4,
    DI_REF0 = 8,
    DI_NDIMS = 24,
    DI_DTYPE = 25,
    DI_DIM0 = 26,
    DI_INLINE = 34,
    DI_SIZE = 35,
    DI_LEN = 35 + 8 + 24
};
/* A remote one: ndims at 8, dtype 9, dims 10.., inline 26, size 27, holder 35. */
enum { DR_NDIMS = 8, DR_INLINE = 26, DR_SIZE = 27, DR_HOLDER = 35, DR_LEN = 39 };

/* Corruptions of an inline descriptor at base, and of a remote one at rb. */
static void bad_descs(const relay__wbuf_t *w, decode_fn dec, size_t base, size_t rb)
{
    BAD32(w, dec, base, 7, "unknown status");
    BAD32(w, dec, base + DI_NREFS, UINT32_MAX, "count exceeds");
    BAD64(w, dec, base + DI_REF0, 0, "invalid ref");
    BAD64(w, dec, base + DI_REF0, id(NRANKS, 1, 0), "invalid ref");
    BAD64(w, dec, base + DI_REF0, id(1, 1, RELAY_MAX_RETURNS), "invalid ref");
    BAD8(w, dec, base + DI_NDIMS, RELAY_MAX_DIMS + 1, "too many dimensions");
    BAD8(w, dec, base + DI_DTYPE, 99, "unknown element type");
    BAD64(w, dec, base + DI_DIM0, 4, "shape does not match");
    BAD8(w, dec, base + DI_INLINE, 2, "inline flag");
    BAD64(w, dec, base + DI_SIZE, UINT64_MAX, NULL);
    BAD32(w, dec, rb + DR_HOLDER, NRANKS, "holder");
    BAD64(w, dec, rb + DR_SIZE, 1, "shape does not match");
}

/* ---- skims ----------------------------------------------------------------- */

typedef int (*skim_fn)(relay__rbuf_t r, relay__rec_id_fn *fn, void *ctx);

/* The ids a skim passed on; it is stopped (answer 7) at the stop-th. */
typedef struct seen {
    uint64_t v[8];
    int n, stop;
} seen_t;

static int see_id(void *ctx, uint64_t id)
{
    seen_t *s = ctx;
    if (s->n < 8) s->v[s->n] = id;
    s->n++;
    return s->n == s->stop ? 7 : 0;
}

/* Skim the first len bytes of w from an exact-size copy. */
static int skim_copy(const relay__wbuf_t *w, size_t len, skim_fn skim, seen_t *s)
{
    void *copy = malloc(len ? len : 1);
    CHECK(copy != NULL);
    if (len) memcpy(copy, w->data, len);
    relay__rbuf_t r;
    relay__rbuf_init(&r, copy, len);
    int rc = skim(r, see_id, s);
    free(copy);
    return rc;
}

/* The skim of w passes on exactly want, in order, and stops when told;
 * every cut of w passes on a beginning of want, and no more. */
static void check_skim_at(const char *file, int line, const relay__wbuf_t *w, skim_fn skim,
                          const uint64_t *want, int nwant)
{
    seen_t s = {{0}, 0, 0};
    CHECK_AT_EQ(file, line, skim_copy(w, w->len, skim, &s), 0);
    CHECK_AT_EQ(file, line, s.n, nwant);
    for (int i = 0; i < nwant; i++)
        CHECK_AT_EQ(file, line, s.v[i], want[i]);
    for (int stop = 1; stop <= nwant; stop++) {
        seen_t t = {{0}, 0, stop};
        CHECK_AT_EQ(file, line, skim_copy(w, w->len, skim, &t), 7);
        CHECK_AT_EQ(file, line, t.n, stop);
    }
    for (size_t len = 0; len < w->len; len++) {
        seen_t t = {{0}, 0, 0};
        CHECK_AT_EQ(file, line, skim_copy(w, len, skim, &t), 0);
        CHECK_AT_EQ(file, line, t.n <= nwant, 1);
        for (int i = 0; i < t.n && i < nwant; i++)
            CHECK_AT_EQ(file, line, t.v[i], want[i]);
        checks++;
    }
    checks++;
}
#define check_skim(w, skim, want, n) check_skim_at(__FILE__, __LINE__, (w), (skim), (want), (n))

/* ---- SUBMIT ---------------------------------------------------------------- */

static void args_from(void *ctx, uint32_t i, relay__rec_arg_t *a_p)
{
    *a_p = ((const relay__rec_arg_t *)ctx)[i];
}

static const int64_t arg_val = 42;

static void submit_args(relay__rec_arg_t *v)
{
    memset(v, 0, 3 * sizeof *v);
    v[0].kind = RELAY_ARG_VALUE;
    v[0].data = &arg_val;
    v[0].size = sizeof arg_val;
    v[1].kind = RELAY_ARG_REF;
    v[1].ref = id(2, 99, 3);
    v[2].kind = RELAY_ARG_VALUE;
    v[2].data = "";
    v[2].size = 0;
}

static void check_arg_list(const relay__rec_args_t *got, const relay__rec_arg_t *want, uint32_t n,
                           int with_desc)
{
    CHECK_EQ(got->n, n);
    relay__rbuf_t it = got->enc;
    for (uint32_t i = 0; i < n; i++) {
        relay__rec_arg_t a;
        if (with_desc)
            relay__rec_task_arg_next(&it, &a);
        else
            relay__rec_submit_arg_next(&it, &a);
        CHECK(!it.err);
        CHECK_EQ(a.kind, want[i].kind);
        if (a.kind == RELAY_ARG_REF) {
            CHECK_EQ(a.ref, want[i].ref);
            if (with_desc) CHECK_EQ(a.pending, want[i].pending);
            if (with_desc && a.pending) CHECK_EQ(a.producer, want[i].producer);
            if (with_desc && !a.pending) check_desc_eq(&a.desc, &want[i].desc);
        } else {
            CHECK_EQ(a.size, want[i].size);
            CHECK_MEMEQ(a.data, want[i].data, a.size);
        }
    }
    CHECK(it.p == it.end);
}

static relay__rec_submit_t submit_task(relay__rec_arg_t *args)
{
    relay__rec_submit_t m;
    memset(&m, 0, sizeof m);
    m.task_id = id(1, 7, 0);
    m.fn_hash = UINT64_C(0x1234567890abcdef);
    m.fn = "fn";
    m.name = "a task";
    m.nret = 3;
    m.retries = 2;
    m.args.n = 3;
    m.args.get = args_from;
    m.args.ctx = args;
    m.has_demand = 1;
    relay__demand_default(&m.demand);
    m.demand.gpu = 5000;
    m.demand.ncustom = 2;
    m.demand.custom[0].idx = 1;
    m.demand.custom[0].units = 20000;
    m.demand.custom[1].idx = 4;
    m.demand.custom[1].units = 1;
    m.kind = RELAY__KIND_TASK;
    m.parent = id(3, 11, 0);
    return m;
}

static void check_submit_eq(const relay__rec_submit_t *a, const relay__rec_submit_t *b,
                            const relay__rec_arg_t *args)
{
    CHECK_EQ(a->task_id, b->task_id);
    CHECK_EQ(a->fn_hash, b->fn_hash);
    CHECK_STREQ(a->fn, b->fn);
    CHECK_STREQ(a->name, b->name);
    CHECK_EQ(a->nret, b->nret);
    CHECK_EQ(a->retries, b->retries);
    check_arg_list(&a->args, args, b->args.n, 0);
    CHECK_EQ(a->has_demand, b->has_demand);
    if (b->has_demand) {
        CHECK_EQ(a->demand.cpu, b->demand.cpu);
        CHECK_EQ(a->demand.gpu, b->demand.gpu);
        CHECK_EQ(a->demand.ncustom, b->demand.ncustom);
        for (uint32_t i = 0; i < b->demand.ncustom; i++) {
            CHECK_EQ(a->demand.custom[i].idx, b->demand.custom[i].idx);
            CHECK_EQ(a->demand.custom[i].units, b->demand.custom[i].units);
        }
    } else {
        CHECK(relay__demand_is_default(&a->demand));
    }
    CHECK_EQ(a->kind, b->kind);
    CHECK_EQ(a->req, b->req);
    CHECK_EQ(a->max_conc, b->max_conc);
    if (b->kind == RELAY__KIND_ACTOR)
        CHECK_STREQ(a->actor_name, b->actor_name);
    else
        CHECK(a->actor_name == NULL);
    CHECK_EQ(a->actor_id, b->actor_id);
    CHECK_EQ(a->class_hash, b->class_hash);
    CHECK_EQ(a->keeps_cpu, b->keeps_cpu);
    CHECK_EQ(a->caller, b->caller);
    CHECK_EQ(a->parent, b->parent);
}

static void rec_submit(void)
{
    relay__rec_arg_t args[3];
    submit_args(args);
    relay__rec_submit_t m = submit_task(args), got;
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_submit_encode(&w, &m);
    void *buf = decode_ok(&w, dec_submit, &got);
    check_submit_eq(&got, &m, args);
    free(buf);
    check_cuts(&w, dec_submit);
    check_skim(&w, relay__rec_submit_ids, &args[1].ref, 1);

    /* Offsets of the fields (see records_task.c). */
    size_t o_fn = 16, o_name = o_fn + S(m.fn), o_nret = o_name + S(m.name);
    size_t o_retries = o_nret + 4, o_nargs = o_retries + 4, o_arg0 = o_nargs + 4;
    size_t o_arg1 = o_arg0 + 1 + 8 + 8, o_arg2 = o_arg1 + 1 + 8, o_dem = o_arg2 + 1 + 8;
    size_t o_cpu = o_dem + 1, o_gpu = o_cpu + 8, o_ncustom = o_gpu + 8, o_c0 = o_ncustom + 4;
    size_t o_c1 = o_c0 + 12, o_kind = o_c1 + 12, o_parent = o_kind + 1;
    CHECK_EQ(o_parent + 8, w.len);

    /* The crash this file guards against: an argument kind that is neither
     * value (1) nor ref (2) was read as a ref. */
    BAD8(&w, dec_submit, o_arg0, 3, "neither value nor ref");
    BAD8(&w, dec_submit, o_arg1, 0, "neither value nor ref");
    BAD8(&w, dec_submit, o_arg2, 255, "neither value nor ref");

    BAD64(&w, dec_submit, 0, 0, "task id");
    BAD64(&w, dec_submit, 0, id(1, 7, 1), "task id");
    BAD64(&w, dec_submit, 0, id(NRANKS, 7, 0), "task id");
    BAD32(&w, dec_submit, o_fn, 0, NULL);                 /* length 0: NUL where 'f' was */
    BAD8(&w, dec_submit, o_fn + 4 + 2, 'x', "NUL");       /* the NUL of "fn" */
    BAD8(&w, dec_submit, o_name + 4 + 1, 0, "task name"); /* a NUL inside */
    BAD32(&w, dec_submit, o_nret, RELAY_MAX_RETURNS + 1, "too many returns");
    OK32(&w, dec_submit, o_nret, 0); /* a task with no returns */
    BAD32(&w, dec_submit, o_retries, RELAY__MAX_RETRIES + 1, "retries");
    BAD32(&w, dec_submit, o_nargs, RELAY_MAX_ARGS + 1, "too many arguments");
    BAD32(&w, dec_submit, o_nargs, UINT32_MAX, "too many arguments");
    BAD32(&w, dec_submit, o_nargs, 4, NULL);
    BAD64(&w, dec_submit, o_arg0 + 1, UINT64_MAX, NULL); /* a value longer than the record */
    BAD64(&w, dec_submit, o_arg1 + 1, 0, "invalid ref");
    BAD8(&w, dec_submit, o_dem, 2, "demand flag");
    BAD64(&w, dec_submit, o_cpu, (uint64_t)-1, "out of range");
    BAD64(&w, dec_submit, o_cpu, (uint64_t)RELAY__UNITS_MAX + 1, "out of range");
    BAD64(&w, dec_submit, o_gpu, 15000, "fraction of several GPUs");
    BAD32(&w, dec_submit, o_ncustom, RELAY_MAX_RESOURCES + 1, "too many resources");
    BAD32(&w, dec_submit, o_ncustom, UINT32_MAX, "too many resources");
    BAD32(&w, dec_submit, o_c1, 1, "order"); /* not ascending */
    BAD64(&w, dec_submit, o_c0 + 4, 0, "order");
    BAD8(&w, dec_submit, o_kind, 3, "unknown task kind");
    BAD8(&w, dec_submit, o_kind, 255, "unknown task kind");
    BAD64(&w, dec_submit, o_parent, id(3, 11, 1), "parent");
    BAD64(&w, dec_submit, o_parent, id(NRANKS, 11, 0), "parent");
    BAD64(&w, dec_submit, o_parent, m.task_id, "itself as its parent");

    /* No parent: submitted by the program's own thread. */
    fresh(&w);
    m.parent = 0;
    relay__rec_submit_encode(&w, &m);
    buf = decode_ok(&w, dec_submit, &got);
    check_submit_eq(&got, &m, args);
    free(buf);
    check_skim(&w, relay__rec_submit_ids, &args[1].ref, 1);

    /* A constructor (no returns, a name, a reply wanted) without demand. */
    fresh(&w);
    m.nret = 0;
    m.args.n = 1;
    m.has_demand = 0;
    m.kind = RELAY__KIND_ACTOR;
    m.req = 77;
    m.max_conc = 4;
    m.actor_name = "counter";
    m.keeps_cpu = 1;
    relay__rec_submit_encode(&w, &m);
    buf = decode_ok(&w, dec_submit, &got);
    check_submit_eq(&got, &m, args);
    free(buf);
    check_cuts(&w, dec_submit);
    check_skim(&w, relay__rec_submit_ids, NULL, 0);
    size_t o_ckind = o_arg1 + 1, o_mc = o_ckind + 1 + 8;
    size_t o_keeps = o_mc + 4 + S("counter");
    CHECK_EQ(o_keeps + 1 + 8, w.len);
    BAD8(&w, dec_submit, o_keeps, 2, "keeps-CPU");
    BAD32(&w, dec_submit, o_nret, 1, "constructor has returns");
    BAD32(&w, dec_submit, o_mc, 0, "max_concurrency");
    BAD32(&w, dec_submit, o_mc, RELAY_MAX_CONCURRENCY + 1, "max_concurrency");
    BAD32(&w, dec_submit, o_mc + 4, RELAY_MAX_NAME, NULL);

    /* A method call. */
    fresh(&w);
    m.nret = 1;
    m.kind = RELAY__KIND_METHOD;
    m.req = 0;
    m.max_conc = 0;
    m.actor_name = NULL;
    m.keeps_cpu = 0;
    m.actor_id = id(3, 5, 0);
    m.class_hash = 99;
    m.caller = id(2, 9, 0);
    relay__rec_submit_encode(&w, &m);
    buf = decode_ok(&w, dec_submit, &got);
    check_submit_eq(&got, &m, args);
    free(buf);
    check_cuts(&w, dec_submit);
    check_skim(&w, relay__rec_submit_ids, &m.actor_id, 1);
    BAD64(&w, dec_submit, o_ckind + 1, 0, "actor id");
    BAD64(&w, dec_submit, o_ckind + 1, id(NRANKS, 5, 0), "actor id");
    size_t o_caller = o_ckind + 1 + 16;
    CHECK_EQ(o_caller + 8 + 8, w.len); /* then the parent */
    BAD64(&w, dec_submit, o_caller, id(2, 9, 1), "caller");
    BAD64(&w, dec_submit, o_caller, id(NRANKS, 9, 0), "caller");
    /* 0: the sending rank's threads outside tasks. */
    fresh(&w);
    m.caller = 0;
    relay__rec_submit_encode(&w, &m);
    buf = decode_ok(&w, dec_submit, &got);
    check_submit_eq(&got, &m, args);
    free(buf);

    /* A method call with every kind of argument and a demand: the refs
     * in order, then the actor. */
    fresh(&w);
    relay__rec_arg_t more[4];
    submit_args(more);
    more[3] = more[1];
    more[3].ref = id(0, 12, 0);
    m.args.n = 4;
    m.args.ctx = more;
    m.has_demand = 1;
    relay__rec_submit_encode(&w, &m);
    buf = decode_ok(&w, dec_submit, &got);
    check_submit_eq(&got, &m, more);
    free(buf);
    uint64_t named[3] = {more[1].ref, more[3].ref, m.actor_id};
    check_skim(&w, relay__rec_submit_ids, named, 3);
    relay__wbuf_free(&w);
}

/* ---- TASK ------------------------------------------------------------------ */

static void rec_task(void)
{
    relay__rec_arg_t args[4];
    memset(args, 0, sizeof args);
    args[0].kind = RELAY_ARG_REF;
    args[0].ref = id(1, 3, 0);
    args[0].desc = desc_inline();
    args[1].kind = RELAY_ARG_VALUE;
    args[1].data = &arg_val;
    args[1].size = sizeof arg_val;
    args[2].kind = RELAY_ARG_REF;
    args[2].ref = id(2, 4, 1);
    args[2].desc = desc_remote();
    args[3].kind = RELAY_ARG_REF;
    args[3].ref = id(0, 5, 0);
    args[3].desc = desc_error();
    relay__rec_task_t m, got;
    memset(&m, 0, sizeof m);
    m.task_id = id(2, 11, 0);
    m.fn_hash = 5;
    m.fn = "kernel";
    m.name = "step 3";
    m.nret = RELAY_MAX_RETURNS;
    m.attempt = 1;
    m.has_res = 1;
    m.cpu = 25000;
    m.ngpu = 2;
    m.gpus[0].dev = 0;
    m.gpus[0].units = RELAY__UNIT;
    m.gpus[1].dev = RELAY__MAX_GPUS - 1;
    m.gpus[1].units = 1;
    m.kind = RELAY__KIND_TASK;
    m.args.n = 4;
    m.args.get = args_from;
    m.args.ctx = args;
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_task_encode(&w, &m);
    void *buf = decode_ok(&w, dec_task, &got);
    CHECK_EQ(got.task_id, m.task_id);
    CHECK_EQ(got.fn_hash, m.fn_hash);
    CHECK_STREQ(got.fn, m.fn);
    CHECK_STREQ(got.name, m.name);
    CHECK_EQ(got.nret, m.nret);
    CHECK_EQ(got.attempt, m.attempt);
    CHECK_EQ(got.has_res, 1);
    CHECK_EQ(got.cpu, m.cpu);
    CHECK_EQ(got.ngpu, m.ngpu);
    for (uint32_t g = 0; g < m.ngpu; g++) {
        CHECK_EQ(got.gpus[g].dev, m.gpus[g].dev);
        CHECK_EQ(got.gpus[g].units, m.gpus[g].units);
    }
    CHECK_EQ(got.kind, m.kind);
    CHECK_EQ(got.actor_id, 0);
    check_arg_list(&got.args, args, 4, 1);
    free(buf);
    check_cuts(&w, dec_task);

    size_t o_nret = 16 + S(m.fn) + S(m.name), o_att = o_nret + 4, o_res = o_att + 4;
    size_t o_cpu = o_res + 1, o_ngpu = o_cpu + 8, o_g0 = o_ngpu + 4, o_g1 = o_g0 + 12;
    size_t o_kind = o_g1 + 12, o_nargs = o_kind + 1, o_arg0 = o_nargs + 4;
    size_t o_arg1 = o_arg0 + 1 + 8 + 1 + DI_LEN, o_arg2 = o_arg1 + 1 + 16;
    size_t o_arg3 = o_arg2 + 1 + 8 + 1 + DR_LEN;
    CHECK_EQ(o_arg3 + 1 + 8 + 1 + 4 + S(desc_error().errmsg), w.len);
    BAD32(&w, dec_task, o_nret, RELAY_MAX_RETURNS + 1, "too many returns");
    OK32(&w, dec_task, o_nret, 0); /* a task with no returns */
    BAD32(&w, dec_task, o_att, RELAY__MAX_RETRIES + 1, "attempts");
    BAD8(&w, dec_task, o_res, 2, "resources flag");
    BAD64(&w, dec_task, o_cpu, (uint64_t)-5, "CPUs");
    BAD32(&w, dec_task, o_ngpu, RELAY__MAX_GPUS + 1, "too many GPUs");
    BAD32(&w, dec_task, o_g0, RELAY__MAX_GPUS, "GPU share");
    BAD64(&w, dec_task, o_g0 + 4, 0, "GPU share");
    BAD64(&w, dec_task, o_g1 + 4, RELAY__UNIT + 1, "GPU share");
    BAD8(&w, dec_task, o_kind, 3, "unknown task kind");
    BAD32(&w, dec_task, o_nargs, RELAY_MAX_ARGS + 1, "too many arguments");
    BAD8(&w, dec_task, o_arg0, 3, "neither value nor ref");
    BAD8(&w, dec_task, o_arg1, 0, "neither value nor ref");
    BAD64(&w, dec_task, o_arg0 + 1, 0, "invalid ref");
    BAD8(&w, dec_task, o_arg0 + 9, 2, "pending flag");
    bad_descs(&w, dec_task, o_arg0 + 10, o_arg2 + 10);
    BAD32(&w, dec_task, o_arg3 + 10, RELAY_OK, NULL); /* an error desc read as a good one */
    BAD32(&w, dec_task, o_arg3 + 10 + 4, 0, NULL);    /* message length 0: no NUL there */

    /* Placed ahead: pending refs name their maker's rank, or none. */
    fresh(&w);
    relay__rec_arg_t ahead[2];
    memset(ahead, 0, sizeof ahead);
    ahead[0].kind = ahead[1].kind = RELAY_ARG_REF;
    ahead[0].ref = id(1, 30, 0);
    ahead[0].pending = 1;
    ahead[0].producer = NRANKS - 1;
    ahead[1].ref = id(2, 31, 2);
    ahead[1].pending = 1;
    ahead[1].producer = -1;
    m.args.n = 2;
    m.args.ctx = ahead;
    relay__rec_task_encode(&w, &m);
    buf = decode_ok(&w, dec_task, &got);
    check_arg_list(&got.args, ahead, 2, 1);
    free(buf);
    check_cuts(&w, dec_task);
    size_t o_p0 = o_arg0 + 1 + 8, o_p1 = o_p0 + 1 + 4 + 1 + 8;
    CHECK_EQ(o_p1 + 1 + 4, w.len);
    BAD8(&w, dec_task, o_p0, 2, "pending flag");
    BAD32(&w, dec_task, o_p0 + 1, NRANKS, "producer rank");
    BAD32(&w, dec_task, o_p1 + 1, UINT32_MAX - 1, "producer rank");
    m.args.ctx = args;

    /* A method: actor id and class, max_concurrency 0, no resources. */
    fresh(&w);
    m.kind = RELAY__KIND_METHOD;
    m.has_res = 0;
    m.nret = 1;
    m.actor_id = id(1, 8, 0);
    m.class_hash = 1234;
    m.args.n = 1;
    relay__rec_task_encode(&w, &m);
    buf = decode_ok(&w, dec_task, &got);
    CHECK_EQ(got.kind, RELAY__KIND_METHOD);
    CHECK_EQ(got.has_res, 0);
    CHECK_EQ(got.cpu, RELAY__UNIT);
    CHECK_EQ(got.ngpu, 0);
    CHECK_EQ(got.actor_id, m.actor_id);
    CHECK_EQ(got.class_hash, m.class_hash);
    CHECK_EQ(got.max_conc, 0);
    CHECK_EQ(got.keeps_cpu, 0);
    check_arg_list(&got.args, args, 1, 1);
    free(buf);
    check_cuts(&w, dec_task);
    size_t o_mkind = o_res + 1, o_mc = o_mkind + 17;
    BAD64(&w, dec_task, o_mkind + 1, 0, "actor id");
    BAD32(&w, dec_task, o_mc, 1, "max_concurrency");
    OK32(&w, dec_task, o_nret, 0); /* a method with no returns */

    /* A constructor: no returns, max_concurrency 1.. */
    fresh(&w);
    m.kind = RELAY__KIND_ACTOR;
    m.nret = 0;
    m.max_conc = RELAY_MAX_CONCURRENCY;
    m.keeps_cpu = 1;
    m.args.n = 0;
    relay__rec_task_encode(&w, &m);
    buf = decode_ok(&w, dec_task, &got);
    CHECK_EQ(got.kind, RELAY__KIND_ACTOR);
    CHECK_EQ(got.keeps_cpu, 1);
    CHECK_EQ(got.nret, 0);
    CHECK_EQ(got.max_conc, RELAY_MAX_CONCURRENCY);
    CHECK_EQ(got.args.n, 0);
    free(buf);
    check_cuts(&w, dec_task);
    BAD32(&w, dec_task, o_mc, 0, "max_concurrency");
    BAD8(&w, dec_task, o_mc + 4, 2, "keeps-CPU");
    BAD32(&w, dec_task, o_nret, 1, "constructor has returns");
    relay__wbuf_free(&w);
}

/* ---- DONE ------------------------------------------------------------------ */

static void descs_from(void *ctx, uint32_t i, relay__desc_t *d_p)
{
    *d_p = ((const relay__desc_t *)ctx)[i];
}

static void rec_done(void)
{
    relay__desc_t rets[3] = {desc_inline(), desc_remote(), desc_inline()};
    rets[2].nrefs = 0;
    rets[2].has_array = 0;
    uint64_t rel[2] = {id(1, 1, 0), id(3, 2, 5)};
    relay__rec_done_t m, got;
    memset(&m, 0, sizeof m);
    m.task_id = id(0, 9, 0);
    m.status = RELAY_OK;
    m.run_ns = 123456789;
    m.msg = "";
    m.rets.n = 3;
    m.rets.get = descs_from;
    m.rets.ctx = rets;
    m.released.n = 2;
    m.released.v = rel;
    uint64_t del[1] = {id(2, 40, 0)};
    m.delivered.n = 1;
    m.delivered.v = del;
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_done_encode(&w, &m);
    void *buf = decode_ok(&w, dec_done, &got);
    CHECK_EQ(got.task_id, m.task_id);
    CHECK_STATUS(got.status, RELAY_OK);
    CHECK_EQ(got.run_ns, m.run_ns);
    CHECK_STREQ(got.msg, "");
    CHECK_EQ(got.rets.n, 3);
    relay__rbuf_t it = got.rets.enc;
    for (uint32_t i = 0; i < 3; i++) {
        relay__desc_t d;
        relay__rec_done_ret_next(&it, &d);
        CHECK(!it.err);
        check_desc_eq(&d, &rets[i]);
    }
    CHECK(it.p == it.end);
    CHECK_EQ(got.released.n, 2);
    CHECK_EQ(relay__ids_at(&got.released, 0), rel[0]);
    CHECK_EQ(relay__ids_at(&got.released, 1), rel[1]);
    CHECK_EQ(got.delivered.n, 1);
    CHECK_EQ(relay__ids_at(&got.delivered, 0), del[0]);
    free(buf);
    check_cuts(&w, dec_done);
    check_skim(&w, relay__rec_done_ids, refs2, 2);

    size_t o_status = 8, o_msg = 20, o_nret = o_msg + S(""), o_r0 = o_nret + 4;
    size_t o_r1 = o_r0 + DI_LEN, o_r2 = o_r1 + DR_LEN, o_nrel = o_r2 + 4 + 4 + 1 + 1 + 8 + 24;
    size_t o_ndel = o_nrel + 4 + 16;
    CHECK_EQ(o_ndel + 4 + 8, w.len);
    BAD32(&w, dec_done, o_ndel, 2, "count exceeds");
    BAD64(&w, dec_done, o_ndel + 4, 0, "delivered task id");
    BAD32(&w, dec_done, o_status, 5, "unknown status");
    BAD32(&w, dec_done, o_status, (uint32_t)RELAY_ERR_TASK_FAILED, "failed task has returns");
    BAD32(&w, dec_done, o_nret, RELAY_MAX_RETURNS + 1, "too many returns");
    BAD32(&w, dec_done, o_nret, 4, NULL);
    bad_descs(&w, dec_done, o_r0, o_r1);
    BAD32(&w, dec_done, o_nrel, UINT32_MAX, "count exceeds");
    BAD32(&w, dec_done, o_nrel, 3, "count exceeds");
    BAD64(&w, dec_done, o_nrel + 4, 0, "released id");
    BAD64(&w, dec_done, o_nrel + 12, id(NRANKS, 1, 0), "released id");

    /* A failure: no returns, a message. */
    fresh(&w);
    m.status = RELAY_ERR_TASK_FAILED;
    m.msg = "task 'x' failed";
    m.rets.n = 0;
    m.released.n = 0;
    m.delivered.n = 0;
    relay__rec_done_encode(&w, &m);
    buf = decode_ok(&w, dec_done, &got);
    CHECK_STATUS(got.status, RELAY_ERR_TASK_FAILED);
    CHECK_STREQ(got.msg, m.msg);
    CHECK_EQ(got.rets.n, 0);
    CHECK_EQ(got.released.n, 0);
    free(buf);
    check_cuts(&w, dec_done);
    check_skim(&w, relay__rec_done_ids, NULL, 0);
    BAD8(&w, dec_done, o_msg + 4 + strlen(m.msg), 'x', "NUL");

    /* An error object among the returns: the skim steps over its message. */
    fresh(&w);
    relay__desc_t with_error[2] = {desc_error(), desc_inline()};
    m.status = RELAY_OK;
    m.msg = "";
    m.rets.n = 2;
    m.rets.ctx = with_error;
    relay__rec_done_encode(&w, &m);
    free(decode_ok(&w, dec_done, &got));
    check_skim(&w, relay__rec_done_ids, refs2, 2);
    relay__wbuf_free(&w);
}

/* ---- BLOCK, UNBLOCK, CANCEL ------------------------------------------------- */

static void rec_block_unblock_cancel(void)
{
    uint64_t ids[3] = {id(1, 1, 0), id(2, 2, 2), id(3, 3, 0)};
    relay__rec_block_t b = {id(1, 4, 0), 20000, 1, 2, {3, ids}}, gb;
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_block_encode(&w, &b);
    void *buf = decode_ok(&w, dec_block, &gb);
    CHECK_EQ(gb.task_id, b.task_id);
    CHECK_EQ(gb.released, b.released);
    CHECK_EQ(gb.answered, 1);
    CHECK_EQ(gb.k, 2);
    CHECK_EQ(gb.ids.n, 3);
    for (uint32_t i = 0; i < 3; i++)
        CHECK_EQ(relay__ids_at(&gb.ids, i), ids[i]);
    free(buf);
    check_cuts(&w, dec_block);
    BAD64(&w, dec_block, 0, id(1, 4, 1), "task id");
    BAD64(&w, dec_block, 8, (uint64_t)-1, "released");
    BAD8(&w, dec_block, 16, 2, "answered");
    BAD64(&w, dec_block, 17, 4, "more ids");
    BAD32(&w, dec_block, 25, 1u << 30, "count exceeds");
    BAD64(&w, dec_block, 29 + 8, 0, "invalid");

    fresh(&w);
    relay__rec_unblock_t u = {id(2, 5, 0), 10000}, gu;
    relay__rec_unblock_encode(&w, &u);
    free(decode_ok(&w, dec_unblock, &gu));
    CHECK_EQ(gu.task_id, u.task_id);
    CHECK_EQ(gu.taken, u.taken);
    check_cuts(&w, dec_unblock);
    BAD64(&w, dec_unblock, 8, (uint64_t)-1, "taken");
    BAD64(&w, dec_unblock, 0, 0, "task id");

    fresh(&w);
    relay__rec_cancel_t c = {id(3, 6, 0), RELAY_ERR_DEADLOCK, "stuck"}, gc;
    relay__rec_cancel_encode(&w, &c);
    buf = decode_ok(&w, dec_cancel, &gc);
    CHECK_EQ(gc.task_id, c.task_id);
    CHECK_STATUS(gc.status, c.status);
    CHECK_STREQ(gc.msg, c.msg);
    free(buf);
    check_cuts(&w, dec_cancel);
    BAD32(&w, dec_cancel, 8, RELAY_OK, "not an error");
    BAD32(&w, dec_cancel, 8, 1, "not an error");
    BAD8(&w, dec_cancel, 12 + 4 + 5, 'x', "NUL");
    relay__wbuf_free(&w);
}

/* ---- objects ---------------------------------------------------------------- */

static void rec_put(void)
{
    relay__rec_put_t m = {id(2, 3, 0), desc_inline()}, got;
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_put_encode(&w, &m);
    void *buf = decode_ok(&w, dec_put, &got);
    CHECK_EQ(got.id, m.id);
    check_desc_eq(&got.desc, &m.desc);
    free(buf);
    check_cuts(&w, dec_put);
    BAD64(&w, dec_put, 0, id(2, 3, 1), "object id");
    BAD64(&w, dec_put, 0, 0, "object id");
    BAD8(&w, dec_put, 8 + DI_INLINE, 2, "inline flag");

    fresh(&w);
    m.desc = desc_remote();
    relay__rec_put_encode(&w, &m);
    buf = decode_ok(&w, dec_put, &got);
    check_desc_eq(&got.desc, &m.desc);
    free(buf);
    check_cuts(&w, dec_put);
    BAD32(&w, dec_put, 8 + DR_HOLDER, UINT32_MAX, "holder");
    BAD8(&w, dec_put, 8 + DR_NDIMS, 0, NULL); /* the dims then read as flag and size */

    /* An object of plain bytes, via the object helpers. */
    fresh(&w);
    struct relay_object o;
    memset(&o, 0, sizeof o);
    o.status = RELAY_OK;
    o.size = 5;
    o.data = (void *)"hello";
    relay__desc_of_obj(&m.desc, &o);
    relay__rec_put_encode(&w, &m);
    buf = decode_ok(&w, dec_put, &got);
    CHECK_EQ(got.desc.is_inline, 1);
    CHECK_EQ(got.desc.has_array, 0);
    CHECK_EQ(got.desc.size, 5);
    CHECK_MEMEQ(got.desc.bytes, "hello", 5);
    free(buf);
    relay__wbuf_free(&w);
}

static void rec_object_subscribe(void)
{
    /* OBJECT: a PUT's layout, any return's id. */
    relay__rec_put_t m = {id(2, 3, 5), desc_remote()}, got;
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_put_encode(&w, &m);
    void *buf = decode_ok(&w, dec_object, &got);
    CHECK_EQ(got.id, m.id);
    check_desc_eq(&got.desc, &m.desc);
    free(buf);
    check_cuts(&w, dec_object);
    BAD64(&w, dec_object, 0, id(2, 3, RELAY_MAX_RETURNS), "object id");
    BAD64(&w, dec_object, 0, id(NRANKS, 3, 0), "object id");
    BAD32(&w, dec_object, 8 + DR_HOLDER, NRANKS, "holder");

    relay__rec_subscribe_t s = {id(1, 6, 2), id(3, 7, 0)}, gs;
    fresh(&w);
    relay__rec_subscribe_encode(&w, &s);
    buf = decode_ok(&w, dec_subscribe, &gs);
    CHECK_EQ(gs.id, s.id);
    CHECK_EQ(gs.consumer, s.consumer);
    free(buf);
    check_cuts(&w, dec_subscribe);
    CHECK_EQ(w.len, 16);
    BAD64(&w, dec_subscribe, 0, 0, "object id");
    BAD64(&w, dec_subscribe, 8, id(3, 7, 1), "consumer");
    relay__wbuf_free(&w);
}

static void rec_recall(void)
{
    relay__rec_recall_t m = {id(1, 9, 0), 1}, got;
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_recall_encode(&w, &m);
    void *buf = decode_ok(&w, dec_recall, &got);
    CHECK_EQ(got.task_id, m.task_id);
    free(buf);
    check_cuts(&w, dec_recall);
    CHECK_EQ(w.len, 8);
    BAD64(&w, dec_recall, 0, id(1, 9, 1), "task id");
    fresh(&w);
    relay__rec_recalled_encode(&w, &m);
    buf = decode_ok(&w, dec_recalled, &got);
    CHECK_EQ(got.task_id, m.task_id);
    CHECK_EQ(got.taken, 1);
    free(buf);
    check_cuts(&w, dec_recalled);
    CHECK_EQ(w.len, 9);
    BAD8(&w, dec_recalled, 8, 2, "taken flag");
    relay__wbuf_free(&w);
}

static void rec_ids(void)
{
    uint64_t ids[2] = {id(0, 1, 0), id(3, 9, 63)};
    relay__rec_ids_t m = {{2, ids}}, got;
    decode_fn decs[2] = {dec_release, dec_free};
    for (int k = 0; k < 2; k++) {
        relay__wbuf_t w;
        relay__wbuf_init(&w);
        relay__rec_ids_encode(&w, &m);
        void *buf = decode_ok(&w, decs[k], &got);
        CHECK_EQ(got.ids.n, 2);
        CHECK_EQ(relay__ids_at(&got.ids, 0), ids[0]);
        CHECK_EQ(relay__ids_at(&got.ids, 1), ids[1]);
        free(buf);
        check_cuts(&w, decs[k]);
        BAD32(&w, decs[k], 0, 0, "no ids");
        BAD32(&w, decs[k], 0, UINT32_MAX, "count exceeds");
        BAD64(&w, decs[k], 4, 0, "invalid");
        BAD64(&w, decs[k], 12, id(1, 1, 64), "invalid");
        relay__wbuf_free(&w);
    }
}

static void rec_req_ids(void)
{
    relay__rec_req_id_t m = {5, id(1, 2, 3)}, got;
    decode_fn decs[3] = {dec_retain_check, dec_get_cancel, dec_kill};
    for (int k = 0; k < 3; k++) {
        relay__wbuf_t w;
        relay__wbuf_init(&w);
        m.id = k == 2 ? id(1, 2, 0) : id(1, 2, 3); /* KILL names an actor */
        relay__rec_req_id_encode(&w, &m);
        free(decode_ok(&w, decs[k], &got));
        CHECK_EQ(got.req, m.req);
        CHECK_EQ(got.id, m.id);
        check_cuts(&w, decs[k]);
        BAD64(&w, decs[k], 0, 0, "request id 0");
        BAD64(&w, decs[k], 8, 0, "id is invalid");
        BAD64(&w, decs[k], 8, id(NRANKS + 1, 2, 0), "id is invalid");
        relay__wbuf_free(&w);
    }
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_req_id_t s = {9, 0};
    relay__rec_req_id_encode(&w, &s);
    free(decode_ok(&w, dec_sync, &got));
    CHECK_EQ(got.req, 9);
    CHECK_EQ(got.id, 0);
    check_cuts(&w, dec_sync);
    BAD64(&w, dec_sync, 8, 1, "names an id");
    BAD64(&w, dec_sync, 0, 0, "request id 0");
    relay__wbuf_free(&w);

    /* ABORT: [u64 req][u64 id][u8 flags]. */
    relay__wbuf_init(&w);
    relay__rec_abort_t a = {7, id(2, 3, 4), RELAY__ABORT_FORCE | RELAY__ABORT_RECURSIVE}, ga;
    relay__rec_abort_encode(&w, &a);
    free(decode_ok(&w, dec_abort, &ga));
    CHECK_EQ(ga.req, a.req);
    CHECK_EQ(ga.id, a.id);
    CHECK_EQ(ga.flags, a.flags);
    check_cuts(&w, dec_abort);
    BAD64(&w, dec_abort, 0, 0, "request id 0");
    BAD64(&w, dec_abort, 8, 0, "id is invalid");
    BAD64(&w, dec_abort, 8, id(NRANKS, 3, 0), "id is invalid");
    BAD8(&w, dec_abort, 16, 4, "unknown flags");
    relay__wbuf_free(&w);
}

static void rec_get(void)
{
    relay__rec_get_t m = {3, id(2, 2, 2), RELAY__GET_DATA | RELAY__GET_NOW}, got;
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_get_encode(&w, &m);
    free(decode_ok(&w, dec_get, &got));
    CHECK_EQ(got.req, m.req);
    CHECK_EQ(got.id, m.id);
    CHECK_EQ(got.flags, m.flags);
    check_cuts(&w, dec_get);
    BAD8(&w, dec_get, 16, 4, "unknown flags");
    BAD64(&w, dec_get, 8, 0, "id is invalid");
    BAD64(&w, dec_get, 0, 0, "request id 0");

    fresh(&w);
    relay__rec_get_reply_t r = {3, RELAY_OK, 1, desc_remote()}, gr;
    relay__rec_get_reply_encode(&w, &r);
    void *buf = decode_ok(&w, dec_get_reply, &gr);
    CHECK_EQ(gr.req, 3);
    CHECK_STATUS(gr.status, RELAY_OK);
    CHECK_EQ(gr.has_desc, 1);
    check_desc_eq(&gr.desc, &r.desc);
    free(buf);
    check_cuts(&w, dec_get_reply);
    BAD32(&w, dec_get_reply, 8, (uint32_t)RELAY_ERR_TIMEOUT, "carries an object");
    BAD32(&w, dec_get_reply, 8, 100, "unknown status");
    BAD8(&w, dec_get_reply, 12, 2, "object flag");
    BAD32(&w, dec_get_reply, 13 + DR_HOLDER, NRANKS, "holder");

    fresh(&w);
    r.status = RELAY_ERR_INVALID_REF;
    r.has_desc = 0;
    relay__rec_get_reply_encode(&w, &r);
    free(decode_ok(&w, dec_get_reply, &gr));
    CHECK_STATUS(gr.status, RELAY_ERR_INVALID_REF);
    CHECK_EQ(gr.has_desc, 0);
    check_cuts(&w, dec_get_reply);

    fresh(&w);
    relay__rec_reply_t p = {8, RELAY_ERR_EXISTS}, gp;
    relay__rec_reply_encode(&w, &p);
    free(decode_ok(&w, dec_reply, &gp));
    CHECK_EQ(gp.req, 8);
    CHECK_STATUS(gp.status, RELAY_ERR_EXISTS);
    check_cuts(&w, dec_reply);
    BAD32(&w, dec_reply, 8, (uint32_t)-1000, "unknown status");
    relay__wbuf_free(&w);
}

static void rec_fetch(void)
{
    relay__rec_fetch_t m = {id(1, 1, 1), RELAY__TAG_XFER_BASE, 1 << 20, UINT64_C(5) << 32}, got;
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_fetch_encode(&w, &m);
    free(decode_ok(&w, dec_fetch, &got));
    CHECK_EQ(got.id, m.id);
    CHECK_EQ(got.tag, m.tag);
    CHECK_EQ(got.chunk, m.chunk);
    CHECK_EQ(got.size, m.size);
    check_cuts(&w, dec_fetch);
    BAD32(&w, dec_fetch, 8, RELAY__TAG_CTRL, "transfer tag");
    BAD32(&w, dec_fetch, 8, RELAY__TAG_XFER_MAX + 1, "transfer tag");
    BAD32(&w, dec_fetch, 8, UINT32_MAX, "transfer tag");
    BAD64(&w, dec_fetch, 12, 0, "chunk");
    BAD64(&w, dec_fetch, 12, (uint64_t)INT_MAX + 1, "chunk");
    BAD64(&w, dec_fetch, 0, 0, "id is invalid");

    fresh(&w);
    relay__rec_fetch_err_t e = {RELAY__TAG_XFER_MAX, RELAY_ERR_IO}, ge;
    relay__rec_fetch_err_encode(&w, &e);
    free(decode_ok(&w, dec_fetch_err, &ge));
    CHECK_EQ(ge.tag, e.tag);
    CHECK_STATUS(ge.status, e.status);
    check_cuts(&w, dec_fetch_err);
    BAD32(&w, dec_fetch_err, 4, RELAY_OK, "not an error");
    BAD32(&w, dec_fetch_err, 0, 0, "transfer tag");
    relay__wbuf_free(&w);
}

/* ---- actors and control ------------------------------------------------------ */

static void rec_actors(void)
{
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_lookup_t l = {4, "pool"}, gl;
    relay__rec_lookup_encode(&w, &l);
    void *buf = decode_ok(&w, dec_lookup, &gl);
    CHECK_EQ(gl.req, 4);
    CHECK_STREQ(gl.name, "pool");
    free(buf);
    check_cuts(&w, dec_lookup);
    BAD64(&w, dec_lookup, 0, 0, "request id 0");
    BAD32(&w, dec_lookup, 8, 0, NULL); /* "" then a NUL expected where 'p' is */
    BAD8(&w, dec_lookup, 12 + 4, 'x', "NUL");
    BAD8(&w, dec_lookup, 12 + 1, 0, "name");

    fresh(&w);
    char longname[RELAY_MAX_NAME + 1];
    memset(longname, 'n', RELAY_MAX_NAME);
    longname[RELAY_MAX_NAME] = '\0';
    l.name = longname;
    relay__rec_lookup_encode(&w, &l);
    any_rec_t m;
    const char *why = NULL;
    CHECK_EQ(decode_copy(w.data, w.len, dec_lookup, &m, NULL, &why), -1);
    CHECK_CONTAINS(why, "too long");
    longname[RELAY_MAX_NAME - 1] = '\0';
    fresh(&w);
    relay__rec_lookup_encode(&w, &l);
    free(decode_ok(&w, dec_lookup, &gl));

    fresh(&w);
    relay__rec_actor_reply_t a = {4, RELAY_OK, id(1, 2, 0), 77}, ga;
    relay__rec_actor_reply_encode(&w, &a);
    free(decode_ok(&w, dec_actor_reply, &ga));
    CHECK_EQ(ga.req, 4);
    CHECK_STATUS(ga.status, RELAY_OK);
    CHECK_EQ(ga.actor_id, a.actor_id);
    CHECK_EQ(ga.class_hash, 77);
    check_cuts(&w, dec_actor_reply);
    BAD64(&w, dec_actor_reply, 12, 0, "actor id");
    BAD32(&w, dec_actor_reply, 8, (uint32_t)RELAY_ERR_NOT_FOUND, "names an actor");
    fresh(&w);
    a.status = RELAY_ERR_NOT_FOUND;
    a.actor_id = a.class_hash = 0;
    relay__rec_actor_reply_encode(&w, &a);
    free(decode_ok(&w, dec_actor_reply, &ga));
    CHECK_STATUS(ga.status, RELAY_ERR_NOT_FOUND);
    CHECK_EQ(ga.actor_id, 0);

    fresh(&w);
    relay__rec_actor_gone_t g = {id(3, 3, 0)}, gg;
    relay__rec_actor_gone_encode(&w, &g);
    free(decode_ok(&w, dec_actor_gone, &gg));
    CHECK_EQ(gg.actor_id, g.actor_id);
    check_cuts(&w, dec_actor_gone);
    BAD64(&w, dec_actor_gone, 0, 0, "actor id");

    fresh(&w);
    relay__rec_actor_cpu_t c = {id(3, 3, 0), -20000}, gc;
    relay__rec_actor_cpu_encode(&w, &c);
    free(decode_ok(&w, dec_actor_cpu, &gc));
    CHECK_EQ(gc.actor_id, c.actor_id);
    CHECK_EQ(gc.delta, -20000);
    check_cuts(&w, dec_actor_cpu);
    BAD64(&w, dec_actor_cpu, 8, (uint64_t)INT64_MIN, "CPUs");
    BAD64(&w, dec_actor_cpu, 8, (uint64_t)RELAY__UNITS_MAX + 1, "CPUs");

    fresh(&w);
    relay__rec_actor_kill_t k = {id(2, 2, 0), RELAY_ERR_ACTOR_DEAD, "killed"}, gk;
    relay__rec_actor_kill_encode(&w, &k);
    buf = decode_ok(&w, dec_actor_kill, &gk);
    CHECK_EQ(gk.actor_id, k.actor_id);
    CHECK_STATUS(gk.status, k.status);
    CHECK_STREQ(gk.msg, k.msg);
    free(buf);
    check_cuts(&w, dec_actor_kill);
    BAD32(&w, dec_actor_kill, 8, RELAY_OK, "not an error");
    BAD64(&w, dec_actor_kill, 0, id(2, 2, 2), "actor id");
    relay__wbuf_free(&w);
}

static void rec_control(void)
{
    decode_fn decs[2] = {dec_ping, dec_pong};
    for (int k = 0; k < 2; k++) {
        relay__wbuf_t w;
        relay__wbuf_init(&w);
        relay__rec_ping_t p = {UINT64_C(1) << 40}, gp;
        relay__rec_ping_encode(&w, &p);
        free(decode_ok(&w, decs[k], &gp));
        CHECK_EQ(gp.epoch, p.epoch);
        check_cuts(&w, decs[k]);
        BAD64(&w, decs[k], 0, 0, "epoch 0");
        relay__wbuf_free(&w);
    }
    /* CRASH: a report of 1..RELAY__CRASH_TEXT_MAX characters. */
    {
        relay__wbuf_t w;
        relay__wbuf_init(&w);
        relay__rec_crash_t c = {"rank 2 (host h, pid 7): task 't' (function 'f') crashed: SIGSEGV"},
                           gc;
        relay__rec_crash_encode(&w, &c);
        void *buf = decode_ok(&w, dec_crash, &gc);
        CHECK_STREQ(gc.text, c.text);
        free(buf);
        check_cuts(&w, dec_crash);
        relay__wbuf_free(&w);
        any_rec_t m;
        relay__wbuf_init(&w);
        c.text = ""; /* no report */
        relay__rec_crash_encode(&w, &c);
        CHECK_EQ(decode_copy(w.data, w.len, dec_crash, &m, NULL, NULL), -1);
        relay__wbuf_free(&w);
        relay__wbuf_init(&w);
        char *big = malloc(RELAY__CRASH_TEXT_MAX + 2);
        CHECK(big != NULL);
        memset(big, 'x', RELAY__CRASH_TEXT_MAX + 1);
        big[RELAY__CRASH_TEXT_MAX + 1] = '\0';
        c.text = big;
        relay__rec_crash_encode(&w, &c);
        CHECK_EQ(decode_copy(w.data, w.len, dec_crash, &m, NULL, NULL), -1);
        big[RELAY__CRASH_TEXT_MAX] = '\0';
        relay__wbuf_free(&w);
        relay__wbuf_init(&w);
        relay__rec_crash_encode(&w, &c);
        buf = decode_ok(&w, dec_crash, &gc);
        CHECK_EQ(strlen(gc.text), RELAY__CRASH_TEXT_MAX);
        free(buf);
        free(big);
        relay__wbuf_free(&w);
    }
    /* RANK_LOST: a rank of the job other than 0. */
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_rank_lost_t l = {NRANKS - 1}, gl;
    relay__rec_rank_lost_encode(&w, &l);
    free(decode_ok(&w, dec_rank_lost, &gl));
    CHECK_EQ(gl.rank, NRANKS - 1);
    check_cuts(&w, dec_rank_lost);
    BAD32(&w, dec_rank_lost, 0, 0, "rank is 0");
    BAD32(&w, dec_rank_lost, 0, NRANKS, "not a rank");
    relay__wbuf_free(&w);
    /* SHUTDOWN, SHUTDOWN_ACK, EXIT, CRASH_ACK: nothing, and nothing more. */
    relay__wbuf_init(&w);
    free(decode_ok(&w, dec_empty, NULL));
    relay__put_u8(&w, 0);
    any_rec_t m;
    CHECK_EQ(decode_copy(w.data, w.len, dec_empty, &m, NULL, NULL), -1);
    relay__wbuf_free(&w);
}

/* ---- the type table ------------------------------------------------------------ */

static void rec_types(void)
{
    CHECK_EQ(RELAY__R_SUBMIT, 1);
    CHECK_EQ(RELAY__R_END, 39); /* 38 types */
    CHECK_STREQ(relay__record_name(RELAY__R_ABORT), "ABORT");
    CHECK(!relay__record_route_ok(RELAY__R_ABORT, 2, 1));
    CHECK_STREQ(relay__record_name(RELAY__R_SUBMIT), "SUBMIT");
    CHECK_STREQ(relay__record_name(RELAY__R_GET_REPLY), "GET_REPLY");
    CHECK_STREQ(relay__record_name(RELAY__R_PONG), "PONG");
    CHECK_STREQ(relay__record_name(0), "unknown");
    CHECK_STREQ(relay__record_name(RELAY__R_END), "unknown");
    CHECK_STREQ(relay__record_name(255), "unknown");
    for (unsigned t = 1; t < RELAY__R_END; t++) {
        CHECK(strcmp(relay__record_name(t), "unknown") != 0);
        CHECK(relay__record_route_ok(t, 0, 0)); /* rank 0 sends every kind to itself */
    }
    /* Rank 0 handles the records up to SHUTDOWN_ACK (comm.c relies on it). */
    for (unsigned t = 1; t <= RELAY__R_SHUTDOWN_ACK; t++) {
        CHECK(relay__record_route_ok(t, 2, 0));
        CHECK(!relay__record_route_ok(t, 2, 1));
    }
    CHECK(relay__record_route_ok(RELAY__R_TASK, 0, 3));
    CHECK(!relay__record_route_ok(RELAY__R_TASK, 1, 3));
    CHECK(!relay__record_route_ok(RELAY__R_EXIT, 2, 1));
    CHECK(!relay__record_route_ok(RELAY__R_PONG, 0, 1));
    CHECK(relay__record_route_ok(RELAY__R_FETCH, 2, 3));
    CHECK(relay__record_route_ok(RELAY__R_FETCH_ERR, 3, 2));
    CHECK(relay__record_route_ok(RELAY__R_SUBSCRIBE, 3, 2));
    CHECK(relay__record_route_ok(RELAY__R_OBJECT, 2, 3));
    CHECK(relay__record_route_ok(RELAY__R_OBJECT, 0, 1));
    CHECK(!relay__record_route_ok(RELAY__R_RECALL, 1, 2));
    CHECK(!relay__record_route_ok(RELAY__R_RECALLED, 1, 2));
    CHECK(relay__record_route_ok(RELAY__R_CRASH, 2, 0));
    CHECK(!relay__record_route_ok(RELAY__R_CRASH, 2, 1));
    CHECK(relay__record_route_ok(RELAY__R_CRASH_ACK, 0, 2));
    CHECK(!relay__record_route_ok(RELAY__R_CRASH_ACK, 1, 2));
    CHECK_STREQ(relay__record_name(RELAY__R_RESOURCES_QUERY), "RESOURCES_QUERY");
    CHECK(relay__record_route_ok(RELAY__R_RESOURCES_QUERY, 2, 0));
    CHECK(!relay__record_route_ok(RELAY__R_RESOURCES_QUERY, 2, 1));
    CHECK(relay__record_route_ok(RELAY__R_RESOURCES_REPLY, 0, 2));
    CHECK(!relay__record_route_ok(RELAY__R_RESOURCES_REPLY, 1, 2));
    CHECK(!relay__record_route_ok(0, 0, 0));
    CHECK(!relay__record_route_ok(RELAY__R_END, 0, 0));
    CHECK(!relay__record_route_ok(200, 1, 2));
}

/* The sanitizers' allocators abort on a request they cannot serve rather
 * than return NULL: there a failed grow cannot be tested. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ALLOCATOR_ABORTS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ALLOCATOR_ABORTS 1
#endif
#endif

/* Once a buffer could not grow, every later write fails and leaves it as
 * it was: a record is never sent with a hole in it. */
static void wire_oom(void)
{
#ifdef ALLOCATOR_ABORTS
    printf("unit_records: no failed-grow test under a sanitizer\n");
    return;
#endif
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__put_str(&w, "before");
    size_t len = w.len;
    CHECK_EQ(len, S("before"));
    CHECK(!w.oom);
    CHECK(relay__wbuf_reserve(&w, (size_t)1 << 62) == NULL); /* no allocator gives this */
    CHECK(w.oom);
    CHECK_EQ(w.len, len);
    relay__put_u8(&w, 1);
    relay__put_u32(&w, 2);
    relay__put_u64(&w, 3);
    relay__put_str(&w, "after");
    relay__put_blob(&w, &arg_val, sizeof arg_val);
    CHECK(relay__wbuf_reserve(&w, 1) == NULL);
    CHECK(w.oom);
    CHECK_EQ(w.len, len);
    CHECK_EQ(memcmp(w.data + 4, "before", 7), 0);
    relay__wbuf_free(&w);
    CHECK(!w.oom && w.len == 0 && w.data == NULL);
    checks++;
}

/* RESOURCES_QUERY: a rank of the job or -1. */
static void rec_res_query(void)
{
    const int ranks[2] = {NRANKS - 1, -1};
    for (int k = 0; k < 2; k++) {
        relay__wbuf_t w;
        relay__wbuf_init(&w);
        relay__rec_res_query_t q = {5, ranks[k]}, gq;
        relay__rec_res_query_encode(&w, &q);
        free(decode_ok(&w, dec_res_query, &gq));
        CHECK_EQ(gq.req, 5);
        CHECK_EQ(gq.rank, ranks[k]);
        check_cuts(&w, dec_res_query);
        BAD64(&w, dec_res_query, 0, 0, "request id 0");
        BAD32(&w, dec_res_query, 8, NRANKS, "not -1 nor a rank");
        BAD32(&w, dec_res_query, 8, UINT32_MAX - 1, "not -1 nor a rank");
        OK32(&w, dec_res_query, 8, 0);
        relay__wbuf_free(&w);
    }
}

/* RESOURCES_REPLY: [u64 req][u32 status][u64 cpu][u64 gpu][u32 n][u64 x n]. */
enum { RR_STATUS = 8, RR_CPU = 12, RR_GPU = 20, RR_N = 28, RR_C0 = 32 };

static void rec_res_reply(void)
{
    const int64_t most = RELAY__UNITS_MAX * NRANKS; /* a sum over every rank */
    const int64_t custom[3] = {0, 12345, most};
    relay__wbuf_t w;
    relay__wbuf_init(&w);
    relay__rec_res_reply_t m = {9, RELAY_OK, 25000, 5000, 3, custom}, g;
    relay__rec_res_reply_encode(&w, &m);
    void *buf = decode_ok(&w, dec_res_reply, &g); /* g's quantities point into it */
    CHECK_EQ(g.req, 9);
    CHECK_EQ(g.status, RELAY_OK);
    CHECK_EQ(g.cpu, 25000);
    CHECK_EQ(g.gpu, 5000);
    CHECK_EQ(g.ncustom, 3);
    for (uint32_t i = 0; i < 3; i++)
        CHECK_EQ(relay__rec_res_custom(&g, i), custom[i]);
    free(buf);
    check_cuts(&w, dec_res_reply);
    BAD64(&w, dec_res_reply, 0, 0, "request id 0");
    BAD32(&w, dec_res_reply, RR_STATUS, 7, "unknown status");
    BAD64(&w, dec_res_reply, RR_CPU, UINT64_MAX, "out of range"); /* -1 */
    BAD64(&w, dec_res_reply, RR_GPU, (uint64_t)most + 1, "out of range");
    BAD64(&w, dec_res_reply, RR_C0 + 8, (uint64_t)INT64_MIN, "out of range");
    BAD64(&w, dec_res_reply, RR_C0 + 16, (uint64_t)most + 1, "out of range");
    BAD32(&w, dec_res_reply, RR_N, UINT32_MAX, "more custom resources");
    BAD32(&w, dec_res_reply, RR_N, RELAY_MAX_RESOURCES * NRANKS + 1, "more custom resources");
    BAD32(&w, dec_res_reply, RR_N, RELAY_MAX_RESOURCES * NRANKS, "count exceeds");
    BAD32(&w, dec_res_reply, RR_N, 4, "count exceeds");
    /* A failed query carries nothing. */
    BAD32(&w, dec_res_reply, RR_STATUS, (uint32_t)RELAY_ERR_RANK_LOST, "carries quantities");
    relay__wbuf_free(&w);
    relay__wbuf_init(&w);
    relay__rec_res_reply_t f = {9, RELAY_ERR_RANK_LOST, 0, 0, 0, NULL};
    relay__rec_res_reply_encode(&w, &f);
    free(decode_ok(&w, dec_res_reply, &g));
    CHECK_EQ(g.status, RELAY_ERR_RANK_LOST);
    CHECK_EQ(g.ncustom, 0);
    BAD64(&w, dec_res_reply, RR_GPU, 1, "carries quantities");
    BAD32(&w, dec_res_reply, RR_N, 1, "count exceeds");
    relay__wbuf_free(&w);
    /* No custom resources at all. */
    relay__wbuf_init(&w);
    m.ncustom = 0;
    relay__rec_res_reply_encode(&w, &m);
    free(decode_ok(&w, dec_res_reply, &g));
    CHECK_EQ(g.ncustom, 0);
    check_cuts(&w, dec_res_reply);
    relay__wbuf_free(&w);
}

int main(void)
{
    relay__g.size = NRANKS; /* ids and holders are checked against it */
    rec_types();
    wire_oom();
    rec_res_query();
    rec_res_reply();
    rec_submit();
    rec_task();
    rec_done();
    rec_block_unblock_cancel();
    rec_put();
    rec_object_subscribe();
    rec_recall();
    rec_ids();
    rec_req_ids();
    rec_get();
    rec_fetch();
    rec_actors();
    rec_control();
    printf("unit_records: %llu checks, PASS\n", checks);
    return 0;
}
