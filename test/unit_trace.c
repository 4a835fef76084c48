/* The trace's recording and writing (trace.c, trace_gather.c,
 * trace_write.c) in one process without mpirun: events from several
 * threads come back in the written file, each thread on its own track;
 * a full buffer drops events and counts them; names with quotes,
 * backslashes and control characters are escaped; a pack that is cut
 * short is refused, not read. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "testutil.h"
#include "runtime.h"
#include "trace_pack.h"

static char dir[64];

/* The whole file as a string (malloc'd). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    CHECK(s != NULL);
    CHECK_EQ(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

static void escape_is(const char *in, const char *want)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    relay__trace_json_string(f, in);
    fclose(f);
    if (strcmp(buf, want) != 0) {
        fprintf(stderr, "escaped '%s' as %s, want %s\n", in, buf, want);
        CHECK(0);
    }
    free(buf);
}

static void test_escape(void)
{
    escape_is("plain", "\"plain\"");
    escape_is("say \"hi\"", "\"say \\\"hi\\\"\"");
    escape_is("a\\b", "\"a\\\\b\"");
    escape_is("tab\there\nnl\x01", "\"tab\\u0009here\\u000anl\\u0001\"");
    escape_is(NULL, "\"\"");
}

static void *record_tasks(void *arg)
{
    int k = *(int *)arg;
    relay__trace_thread("worker %d", k);
    for (int i = 0; i < 10; i++) {
        double t0 = relay__now();
        relay__trace_task(((uint64_t)k << 44) | ((uint64_t)(i + 1) << 8), "fn \"q\"", "n\\1", t0,
                          t0 + 1e-6, i == 0 ? RELAY_ERR_TASK_FAILED : RELAY_OK);
    }
    return NULL;
}

/* Events from threads of one rank, packed and written. */
static void test_round_trip(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/t.json", dir);
    relay__trace_setup(path, (size_t)1 << 20, 0);
    CHECK(relay__trace_active());
    relay__trace_thread("main");
    double t0 = relay__now();
    relay__trace_submit(UINT64_C(0x100), "producer", t0);
    relay__trace_task(UINT64_C(0x100), "producer", "", t0, t0 + 2e-6, RELAY_OK);
    uint64_t arg = UINT64_C(0x101);
    relay__trace_args_slow(UINT64_C(0x200), &arg, 1);
    relay__trace_task(UINT64_C(0x200), "consumer", "", t0 + 3e-6, t0 + 4e-6, RELAY_OK);
    pthread_t th[2];
    int ks[2] = {1, 2};
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, record_tasks, &ks[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    size_t len = 0;
    void *pack = relay__trace_pack(0, "host\"x", &len);
    CHECK(pack != NULL);
    const relay__trace_head_t *h = pack;
    CHECK_EQ(h->nthreads, 3);
    CHECK_EQ(h->nevents, 24); /* submit, 2 tasks, args, 20 tasks */
    CHECK_EQ(h->dropped, 0);
    size_t events = 0;
    void *packs[1] = {pack};
    CHECK_EQ(relay__trace_write(path, packs, &len, 1, &events), 0);
    char *s = slurp(path);
    CHECK_EQ(count(s, "\"ph\":\"X\",\"cat\":\"task\""), 22);
    CHECK_EQ(count(s, "\"name\":\"fn \\\"q\\\"\""), 20);
    CHECK_EQ(count(s, "\"name\":\"n\\\\1\""), 20);
    CHECK_EQ(count(s, "\"status\":\"failed\""), 2);
    CHECK_EQ(count(s, "\"name\":\"worker 1\""), 1);
    CHECK_EQ(count(s, "\"name\":\"worker 2\""), 1);
    CHECK_EQ(count(s, "\"name\":\"rank 0 (host\\\"x)\""), 1);
    /* The consumer's argument joins it to its producer; the queued span
     * of the one submitted task. */
    CHECK_EQ(count(s, "\"ph\":\"s\""), 1);
    CHECK_EQ(count(s, "\"ph\":\"f\",\"cat\":\"flow\""), 1);
    CHECK_EQ(count(s, "\"ph\":\"b\",\"cat\":\"queued\""), 1);
    CHECK(strstr(s, "\"dropped_events\":0") != NULL);
    CHECK(strstr(s, "\"ranks_traced\":1") != NULL);
    free(s);
    /* A pack cut short is left out, not read past its end. */
    len -= 8;
    CHECK_EQ(relay__trace_write(path, packs, &len, 1, &events), 0);
    s = slurp(path);
    CHECK(strstr(s, "\"ranks_traced\":0") != NULL);
    CHECK_EQ(count(s, "\"cat\":\"task\""), 0);
    free(s);
    free(pack);
    relay__trace_fini(0);
    CHECK(!relay__trace_active());
}

/* A buffer of a few events keeps those and counts the rest. */
static void test_drops(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/small.json", dir);
    size_t limit = 4096;
    relay__trace_setup(path, limit, 0);
    for (int i = 0; i < 200; i++)
        relay__trace_task((uint64_t)(i + 1) << 8, "f", "", relay__now(), relay__now(), RELAY_OK);
    uint64_t dropped = relay__trace_dropped();
    CHECK(dropped > 0);
    size_t len = 0;
    void *pack = relay__trace_pack(0, "h", &len);
    const relay__trace_head_t *h = pack;
    CHECK_EQ(h->nevents + h->dropped, 200);
    CHECK(h->nevents * sizeof(relay__tev_t) <= limit);
    CHECK_EQ(h->limit, limit);
    size_t events = 0;
    void *packs[1] = {pack};
    CHECK_EQ(relay__trace_write(path, packs, &len, 1, &events), 0);
    char *s = slurp(path), want[64];
    snprintf(want, sizeof want, "\"dropped_events\":%llu", (unsigned long long)dropped);
    CHECK(strstr(s, want) != NULL);
    free(s);
    free(pack);
    relay__trace_fini(0);
    /* Off, nothing is kept. */
    relay__trace_setup(NULL, limit, 0);
    CHECK(!relay__trace_active());
    relay__trace_task(1, "f", "", 0, 0, RELAY_OK);
    CHECK_EQ(relay__trace_dropped(), 0);
    relay__trace_fini(0);
}

/* A file that cannot be written says why and leaves nothing behind. */
static void test_unwritable(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/missing/t.json", dir);
    relay__trace_setup(path, 4096, 0);
    size_t len = 0, events = 0;
    void *pack = relay__trace_pack(0, "h", &len);
    void *packs[1] = {pack};
    errno = 0;
    CHECK_EQ(relay__trace_write(path, packs, &len, 1, &events), -1);
    CHECK_EQ(errno, ENOENT);
    free(pack);
    relay__trace_fini(0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", "/tmp/relay-unit-trace-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    test_escape();
    test_round_trip();
    test_drops();
    test_unwritable();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
    printf("unit_trace: PASS\n");
    return 0;
}
