/* Malformed records fed to rank 0's dispatch, in one process (an MPI
 * singleton hosting driver, scheduler, directory and workers): each is
 * logged and dropped without changing rank 0's state, and rank 0 still
 * runs tasks afterwards. Records are encoded by hand here, byte by byte,
 * so the test does not trust the encoders it checks. */
#include <fcntl.h>

#include "client.h"
#include "comm.h"
#include "directory.h"
#include "registry.h"
#include "runtime.h"
#include "scheduler.h"
#include "testutil.h"

static int fn_echo(relay_ctx_t *ctx)
{
    int64_t v = 0;
    if (test_ctx_arg_fixed(ctx, 0, &v, sizeof v)) return 1;
    return relay_ctx_return(ctx, 0, &v, sizeof v);
}

/* Ids that no client of this process hands out (sequence far ahead). */
static uint64_t bad_id(unsigned k)
{
    return relay__id_make(0, (UINT64_C(1) << 35) + k, 0);
}

/* ---- one record, by hand -------------------------------------------------- */

typedef struct rec {
    relay__wbuf_t w;
    size_t start;
} rec_t;

static void rec_begin(rec_t *m, uint8_t type)
{
    relay__wbuf_init(&m->w);
    m->start = relay__record_begin(&m->w, type);
}

static void str_raw(relay__wbuf_t *w, const char *s, int nul)
{
    size_t n = strlen(s);
    relay__put_u32(w, (uint32_t)n);
    relay__put_bytes(w, s, n);
    relay__put_u8(w, nul ? 0 : 'x');
}

/* A SUBMIT of "echo" with nargs arguments (at most 4 are written), each of
 * kind arg_kind (a value, or an unknown ref). */
typedef struct submit_spec {
    uint64_t id;
    uint32_t nret, nargs;
    uint8_t arg_kind;
    uint8_t task_kind;
    int fn_nul;
    int64_t value;
    int custom_idx; /* >= 0: a demand naming this custom resource */
    int trailing;
} submit_spec_t;

static submit_spec_t submit_default(unsigned k)
{
    submit_spec_t s = {bad_id(k), 1, 1, RELAY_ARG_VALUE, RELAY__KIND_TASK, 1, 7, -1, 0};
    return s;
}

static void put_submit(relay__wbuf_t *w, const submit_spec_t *s)
{
    const char *fn = "echo";
    relay__put_u64(w, s->id);
    relay__put_u64(w, relay__fn_hash(fn));
    str_raw(w, fn, s->fn_nul);
    str_raw(w, "hostile", 1);
    relay__put_u32(w, s->nret);
    relay__put_u32(w, 0);
    relay__put_u32(w, s->nargs);
    for (uint32_t i = 0; i < s->nargs && i < 4; i++) {
        relay__put_u8(w, s->arg_kind);
        if (s->arg_kind == RELAY_ARG_VALUE) {
            relay__put_u64(w, sizeof s->value);
            relay__put_bytes(w, &s->value, sizeof s->value);
        } else {
            relay__put_u64(w, bad_id(999)); /* no such object */
        }
    }
    relay__put_u8(w, s->custom_idx >= 0);
    if (s->custom_idx >= 0) {
        relay__put_u64(w, 10000); /* 1 CPU */
        relay__put_u64(w, 0);
        relay__put_u32(w, 1);
        relay__put_u32(w, (uint32_t)s->custom_idx);
        relay__put_u64(w, 10000);
    }
    relay__put_u8(w, s->task_kind);
    relay__put_u64(w, 0); /* no parent task */
    if (s->trailing) relay__put_u32(w, 0xdeadbeef);
}

/* ---- feeding rank 0 --------------------------------------------------------- */

typedef struct state {
    uint64_t pending, objects, bytes;
} state_t;

static state_t rank0_state(void)
{
    state_t s;
    s.pending = relay__sched_pending();
    relay__dir_stats(&s.objects, &s.bytes);
    return s;
}

/* Dispatch one message as if rank 0 had received it; what rank 0 logged
 * meanwhile goes to log (and is echoed to stderr). Returns rank 0's state
 * before and after, read under the same lock hold. */
static void dispatch_logged(const void *buf, size_t len, char *log, size_t logn, state_t *before,
                            state_t *after)
{
    char path[] = "/tmp/relay_unit_malformed_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0);
    CHECK(dup2(fd, 2) == 2);
    pthread_mutex_lock(&relay__g.lock);
    *before = rank0_state();
    relay__dispatch(0, buf, len);
    *after = rank0_state();
    pthread_mutex_unlock(&relay__g.lock);
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    off_t end = lseek(fd, 0, SEEK_END);
    CHECK(end >= 0);
    size_t n = (size_t)end < logn - 1 ? (size_t)end : logn - 1;
    CHECK(pread(fd, log, n, 0) == (ssize_t)n);
    log[n] = '\0';
    close(fd);
    fputs(log, stderr);
}

/* rank 0 still works: a task runs and its result comes back. */
static void round_trip(int64_t v)
{
    relay_arg_t a = relay_arg_value(&v, sizeof v);
    relay_ref_t r = test_submit("echo", &a, 1);
    CHECK_EQ(test_get_i64(r), v);
    CHECK_OK(relay_release(r));
}

/* A record rank 0 must log as malformed (naming want, when not NULL) and
 * drop, changing nothing. */
static void expect_dropped_at(const char *file, int line, rec_t *m, const char *want)
{
    char log[4096];
    state_t b, a;
    relay__record_end(&m->w, m->start);
    dispatch_logged(m->w.data, m->w.len, log, sizeof log, &b, &a);
    if (b.pending != a.pending || b.objects != a.objects || b.bytes != a.bytes) {
        fprintf(stderr, "%s:%d: rank 0 changed: pending %llu -> %llu, objects %llu -> %llu\n", file,
                line, (unsigned long long)b.pending, (unsigned long long)a.pending,
                (unsigned long long)b.objects, (unsigned long long)a.objects);
        CHECK(0);
    }
    if (want && !strstr(log, want)) {
        fprintf(stderr, "%s:%d: expected the log to say \"%s\"\n", file, line, want);
        CHECK(0);
    }
}
#define expect_dropped(m, want) expect_dropped_at(__FILE__, __LINE__, (m), (want))

static void bad_submit(const submit_spec_t *s, const char *want)
{
    rec_t m;
    rec_begin(&m, RELAY__R_SUBMIT);
    put_submit(&m.w, s);
    expect_dropped(&m, want);
    relay__wbuf_free(&m.w);
    round_trip(s->value + 1);
}

/* The crash this test was written for: an argument kind that is neither a
 * value nor a ref was taken for a ref, skipped the unknown-ref check, and
 * the scheduler dereferenced a missing directory entry sending the task. */
static void check_bad_arg_kind(void)
{
    submit_spec_t s = submit_default(1);
    s.arg_kind = 3;
    bad_submit(&s, "malformed SUBMIT record from rank 0: ");
    s.arg_kind = 0;
    bad_submit(&s, "malformed SUBMIT record from rank 0: ");
    s.arg_kind = 255;
    bad_submit(&s, "malformed SUBMIT record from rank 0: ");
}

static void check_bad_submits(void)
{
    const char *want = "malformed SUBMIT record from rank 0: ";
    submit_spec_t s = submit_default(2);
    s.nret = RELAY_MAX_RETURNS + 1;
    bad_submit(&s, want);
    s = submit_default(3);
    s.nret = UINT32_MAX;
    bad_submit(&s, want);
    s = submit_default(4);
    s.task_kind = 7;
    bad_submit(&s, want);
    s = submit_default(5);
    s.fn_nul = 0;
    bad_submit(&s, want);
    s = submit_default(6);
    s.trailing = 1;
    bad_submit(&s, want);
    s = submit_default(7);
    s.nargs = UINT32_MAX;
    bad_submit(&s, want);
    s = submit_default(8);
    s.nargs = 5; /* only 4 are there */
    bad_submit(&s, want);
    s = submit_default(9);
    s.id = 0;
    bad_submit(&s, want);
    s = submit_default(10);
    s.id = relay__id_make(3, 77, 0); /* a rank that does not exist */
    bad_submit(&s, NULL);
    s = submit_default(11);
    s.id |= 5; /* a return index in a task id */
    bad_submit(&s, want);
    s = submit_default(12);
    s.custom_idx = 3; /* no custom resource exists */
    bad_submit(&s, NULL);
    s = submit_default(13);
    s.arg_kind = RELAY_ARG_REF; /* an unknown ref: the task fails, rank 0 lives */
    rec_t m;
    rec_begin(&m, RELAY__R_SUBMIT);
    put_submit(&m.w, &s);
    relay__record_end(&m.w, m.start);
    pthread_mutex_lock(&relay__g.lock);
    relay__dispatch(0, m.w.data, m.w.len);
    pthread_mutex_unlock(&relay__g.lock);
    relay__wbuf_free(&m.w);
    round_trip(13);
}

/* Every cut of a good SUBMIT is dropped. */
static void check_truncated_submits(void)
{
    submit_spec_t s = submit_default(20);
    rec_t whole;
    rec_begin(&whole, RELAY__R_SUBMIT);
    put_submit(&whole.w, &s);
    for (size_t len = RELAY__RECORD_HDR; len < whole.w.len; len++) {
        rec_t m;
        rec_begin(&m, RELAY__R_SUBMIT);
        relay__put_bytes(&m.w, whole.w.data + RELAY__RECORD_HDR, len - RELAY__RECORD_HDR);
        expect_dropped(&m, "malformed SUBMIT record");
        relay__wbuf_free(&m.w);
    }
    relay__wbuf_free(&whole.w);
    round_trip(20);
}

/* The same task id twice in one message (the first still runs): the
 * second is dropped, the first's result stands. */
static void check_duplicate_task(void)
{
    submit_spec_t s = submit_default(30);
    /* An id this rank handed out, so the program may get it. */
    s.id = relay__id_make(0, atomic_fetch_add(&relay__g.next_seq, 1), 0);
    s.value = 30;
    rec_t m;
    rec_begin(&m, RELAY__R_SUBMIT);
    put_submit(&m.w, &s);
    relay__record_end(&m.w, m.start);
    size_t start = relay__record_begin(&m.w, RELAY__R_SUBMIT);
    s.value = 31;
    put_submit(&m.w, &s);
    relay__record_end(&m.w, start);
    pthread_mutex_lock(&relay__g.lock);
    uint64_t pending = relay__sched_pending();
    relay__dispatch(0, m.w.data, m.w.len);
    CHECK_EQ(relay__sched_pending(), pending + 1);
    /* The program now holds the return, as if it had submitted the task. */
    relay__hold_add(s.id);
    pthread_mutex_unlock(&relay__g.lock);
    relay__wbuf_free(&m.w);
    relay_ref_t r = {s.id};
    CHECK_EQ(test_get_i64(r), 30);
    CHECK_OK(relay_release(r));
    round_trip(30);
}

static void check_other_records(void)
{
    rec_t m;
    /* DONE of a status outside the table, and of too many returns. */
    rec_begin(&m, RELAY__R_DONE);
    relay__put_u64(&m.w, bad_id(40));
    relay__put_u32(&m.w, 5);
    relay__put_u64(&m.w, 0);
    str_raw(&m.w, "", 1);
    relay__put_u32(&m.w, 0);
    relay__put_u32(&m.w, 0);
    expect_dropped(&m, "malformed DONE record from rank 0: ");
    relay__wbuf_free(&m.w);
    rec_begin(&m, RELAY__R_DONE);
    relay__put_u64(&m.w, bad_id(41));
    relay__put_u32(&m.w, 0);
    relay__put_u64(&m.w, 0);
    str_raw(&m.w, "", 1);
    relay__put_u32(&m.w, UINT32_MAX);
    expect_dropped(&m, "malformed DONE record from rank 0: ");
    relay__wbuf_free(&m.w);

    /* PUT: id 0; an array of 9 dimensions; a holder that does not exist. */
    rec_begin(&m, RELAY__R_PUT);
    relay__put_u64(&m.w, 0);
    relay__put_u32(&m.w, 0);
    relay__put_u32(&m.w, 0);
    relay__put_u8(&m.w, 0);
    relay__put_u8(&m.w, 1);
    relay__put_u64(&m.w, 0);
    expect_dropped(&m, "malformed PUT record from rank 0: ");
    relay__wbuf_free(&m.w);
    rec_begin(&m, RELAY__R_PUT);
    relay__put_u64(&m.w, bad_id(42));
    relay__put_u32(&m.w, 0);
    relay__put_u32(&m.w, 0);
    relay__put_u8(&m.w, 9);
    relay__put_u8(&m.w, RELAY_UINT8);
    for (int i = 0; i < 9; i++)
        relay__put_u64(&m.w, 1);
    relay__put_u8(&m.w, 1);
    relay__put_u64(&m.w, 1);
    relay__put_u8(&m.w, 0);
    expect_dropped(&m, "malformed PUT record from rank 0: ");
    relay__wbuf_free(&m.w);
    rec_begin(&m, RELAY__R_PUT);
    relay__put_u64(&m.w, bad_id(43));
    relay__put_u32(&m.w, 0);
    relay__put_u32(&m.w, 0);
    relay__put_u8(&m.w, 0);
    relay__put_u8(&m.w, 0);
    relay__put_u64(&m.w, 1 << 20);
    relay__put_u32(&m.w, 7);
    expect_dropped(&m, "malformed PUT record from rank 0: ");
    relay__wbuf_free(&m.w);

    /* RELEASE of more ids than the record holds. */
    rec_begin(&m, RELAY__R_RELEASE);
    relay__put_u32(&m.w, UINT32_MAX);
    relay__put_u64(&m.w, bad_id(44));
    expect_dropped(&m, "malformed RELEASE record from rank 0: ");
    relay__wbuf_free(&m.w);

    /* GET of id 0, and with unknown flags. */
    rec_begin(&m, RELAY__R_GET);
    relay__put_u64(&m.w, 1);
    relay__put_u64(&m.w, 0);
    relay__put_u8(&m.w, RELAY__GET_DATA);
    expect_dropped(&m, "malformed GET record from rank 0: ");
    relay__wbuf_free(&m.w);
    rec_begin(&m, RELAY__R_GET);
    relay__put_u64(&m.w, 1);
    relay__put_u64(&m.w, bad_id(45));
    relay__put_u8(&m.w, 0x80);
    expect_dropped(&m, "malformed GET record from rank 0: ");
    relay__wbuf_free(&m.w);

    /* BLOCK naming more ids than it carries. */
    rec_begin(&m, RELAY__R_BLOCK);
    relay__put_u64(&m.w, bad_id(46));
    relay__put_u64(&m.w, 0);
    relay__put_u8(&m.w, 0);
    relay__put_u64(&m.w, 1);
    relay__put_u32(&m.w, 1u << 30);
    expect_dropped(&m, "malformed BLOCK record from rank 0: ");
    relay__wbuf_free(&m.w);

    /* LOOKUP whose name has no NUL. */
    rec_begin(&m, RELAY__R_LOOKUP);
    relay__put_u64(&m.w, 1);
    str_raw(&m.w, "name", 0);
    expect_dropped(&m, "malformed LOOKUP record from rank 0: ");
    relay__wbuf_free(&m.w);

    /* A TASK (rank 0 hosts workers here) with an unknown argument kind. */
    rec_begin(&m, RELAY__R_TASK);
    relay__put_u64(&m.w, bad_id(47));
    relay__put_u64(&m.w, relay__fn_hash("echo"));
    str_raw(&m.w, "echo", 1);
    str_raw(&m.w, "hostile", 1);
    relay__put_u32(&m.w, 1);
    relay__put_u32(&m.w, 0);
    relay__put_u8(&m.w, 0);
    relay__put_u8(&m.w, RELAY__KIND_TASK);
    relay__put_u32(&m.w, 1);
    relay__put_u8(&m.w, 3);
    relay__put_u64(&m.w, bad_id(48));
    expect_dropped(&m, "malformed TASK record from rank 0: ");
    relay__wbuf_free(&m.w);

    /* A FETCH with a tag MPI would refuse. */
    rec_begin(&m, RELAY__R_FETCH);
    relay__put_u64(&m.w, bad_id(49));
    relay__put_u32(&m.w, UINT32_MAX);
    relay__put_u64(&m.w, 1 << 20);
    relay__put_u64(&m.w, 8);
    expect_dropped(&m, "malformed FETCH record from rank 0: ");
    relay__wbuf_free(&m.w);

    /* A record type nobody knows. */
    rec_begin(&m, 200);
    relay__put_u64(&m.w, 1);
    expect_dropped(&m, "200");
    relay__wbuf_free(&m.w);
    round_trip(40);
}

/* RESOURCES_QUERY and RESOURCES_REPLY (rank 0 answers itself here: the
 * job has one rank and no custom resource). */
static void check_resources_records(void)
{
    rec_t m;
    /* Cut after the request id; request id 0; a rank the job lacks. */
    rec_begin(&m, RELAY__R_RESOURCES_QUERY);
    relay__put_u64(&m.w, 3);
    expect_dropped(&m, "malformed RESOURCES_QUERY record from rank 0: truncated");
    relay__wbuf_free(&m.w);
    rec_begin(&m, RELAY__R_RESOURCES_QUERY);
    relay__put_u64(&m.w, 0);
    relay__put_u32(&m.w, 0);
    expect_dropped(&m, "malformed RESOURCES_QUERY record from rank 0: request id 0");
    relay__wbuf_free(&m.w);
    rec_begin(&m, RELAY__R_RESOURCES_QUERY);
    relay__put_u64(&m.w, 3);
    relay__put_u32(&m.w, 1);
    expect_dropped(&m, "the rank is not -1 nor a rank of the job");
    relay__wbuf_free(&m.w);

    /* Replies: a count beyond the record, beyond what the job can have, a
     * negative quantity, quantities with a failure, and a well-formed
     * record whose count is not the cluster table's. */
    const struct {
        uint32_t status, n;
        uint64_t cpu, custom;
        const char *want;
    } bad[] = {
        {RELAY_OK, 2, 0, 0, "a count exceeds the record"},
        {RELAY_OK, UINT32_MAX, 0, 0, "more custom resources than the job can have"},
        {RELAY_OK, 1, 0, UINT64_MAX, "a quantity out of range"},
        {RELAY_OK, 0, UINT64_MAX, 0, "a quantity out of range"},
        {(uint32_t)RELAY_ERR_RANK_LOST, 0, 10000, 0, "a failed query carries quantities"},
        {RELAY_OK, 1, 0, 10000, "not as many custom resources as the cluster table"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rec_begin(&m, RELAY__R_RESOURCES_REPLY);
        relay__put_u64(&m.w, 77);
        relay__put_u32(&m.w, bad[i].status);
        relay__put_u64(&m.w, bad[i].cpu);
        relay__put_u64(&m.w, 0);
        relay__put_u32(&m.w, bad[i].n);
        if (bad[i].n == 1 || bad[i].n == 2) relay__put_u64(&m.w, bad[i].custom);
        expect_dropped(&m, bad[i].want);
        relay__wbuf_free(&m.w);
    }
    /* A good query is answered, and its answer (no request waits for 77)
     * ignored. */
    rec_begin(&m, RELAY__R_RESOURCES_QUERY);
    relay__put_u64(&m.w, 77);
    relay__put_u32(&m.w, UINT32_MAX);
    char log[4096];
    state_t b, a;
    relay__record_end(&m.w, m.start);
    dispatch_logged(m.w.data, m.w.len, log, sizeof log, &b, &a);
    CHECK(strstr(log, "malformed") == NULL);
    relay__wbuf_free(&m.w);
    /* The books are as they were: everything free. */
    relay_resource_set_t set, total;
    memset(&set, 0, sizeof set);
    memset(&total, 0, sizeof total);
    CHECK_OK(relay_available_resources(-1, &set));
    CHECK_OK(relay_cluster_resources(-1, &total));
    CHECK_EQ(set.num_custom, 0);
    CHECK(total.cpus > 0 && set.cpus == total.cpus);
    round_trip(50);
}

int main(void)
{
    CHECK_OK(relay_register("echo", fn_echo));
    CHECK_OK(relay_init(NULL, NULL, NULL));
    round_trip(1);
    check_bad_arg_kind();
    check_bad_submits();
    check_truncated_submits();
    check_duplicate_task();
    check_other_records();
    check_resources_records();
    CHECK_OK(relay_finalize());
    printf("unit_malformed: PASS\n");
    return 0;
}
