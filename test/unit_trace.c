/* The trace's recording and writing (trace.c, trace_gather.c,
 * trace_write.c) in one process without mpirun: events from several
 * threads come back in the written file, each thread on its own track;
 * a full buffer drops events and counts them; names with quotes,
 * backslashes and control characters are escaped, bytes that are not
 * UTF-8 replaced; a pack that is cut short or whose layout does not add
 * up is refused, not read, and leaves out that rank alone. */
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
    char *s = test_read_text(path);
    CHECK(s != NULL);
    return s;
}

/* Whether s (n bytes) is well-formed UTF-8: no overlong forms, no
 * surrogates, nothing beyond U+10FFFF. */
static int valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80                 ? 1
                   : c >= 0xc2 && c <= 0xdf ? 2
                   : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4
                                            : 0;
        if (!k || i + k > n) return 0;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xc0) != 0x80) return 0;
        if (k > 2 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f) ||
                      (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f)))
            return 0;
        i += k;
    }
    return 1;
}

/* The file parses as JSON for python's json module (strict UTF-8), when
 * there is a python3 to ask. */
static void python_parses(const char *path)
{
    if (system("command -v python3 >/dev/null 2>&1") != 0) return;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys; json.load(open(sys.argv[1], encoding=\"utf-8\"))' %s",
             path);
    if (system(cmd) != 0) {
        fprintf(stderr, "%s is not valid JSON\n", path);
        CHECK(0);
    }
}

/* The file is UTF-8 throughout and valid JSON; returned (malloc'd). */
static char *slurp_valid(const char *path)
{
    char *s = slurp(path);
    CHECK(valid_utf8((const unsigned char *)s, strlen(s)));
    python_parses(path);
    return s;
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
    CHECK_EQ(test_count(s, "\"ph\":\"X\",\"cat\":\"task\""), 22);
    CHECK_EQ(test_count(s, "\"name\":\"fn \\\"q\\\"\""), 20);
    CHECK_EQ(test_count(s, "\"name\":\"n\\\\1\""), 20);
    CHECK_EQ(test_count(s, "\"status\":\"failed\""), 2);
    CHECK_EQ(test_count(s, "\"name\":\"worker 1\""), 1);
    CHECK_EQ(test_count(s, "\"name\":\"worker 2\""), 1);
    CHECK_EQ(test_count(s, "\"name\":\"rank 0 (host\\\"x)\""), 1);
    /* The consumer's argument joins it to its producer; the queued span
     * of the one submitted task. */
    CHECK_EQ(test_count(s, "\"ph\":\"s\""), 1);
    CHECK_EQ(test_count(s, "\"ph\":\"f\",\"cat\":\"flow\""), 1);
    CHECK_EQ(test_count(s, "\"ph\":\"b\",\"cat\":\"queued\""), 1);
    CHECK(strstr(s, "\"dropped_events\":0") != NULL);
    CHECK(strstr(s, "\"ranks_traced\":1") != NULL);
    free(s);
    /* A pack cut short is left out, not read past its end. */
    len -= 8;
    CHECK_EQ(relay__trace_write(path, packs, &len, 1, &events), 0);
    s = slurp(path);
    CHECK(strstr(s, "\"ranks_traced\":0") != NULL);
    CHECK_EQ(test_count(s, "\"cat\":\"task\""), 0);
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

/* ---- packs from other ranks that do not add up --------------------------- */

/* A good pack of rank 0 and one of rank 1 to spoil, both of the events
 * recorded now; their file. */
static void *good0, *good1;
static size_t len0, len1;
static char mpath[128];

static void *second_thread(void *arg)
{
    (void)arg;
    relay__trace_thread("second");
    double t0 = relay__now();
    relay__trace_task(UINT64_C(0x700), "second_fn", "", t0, t0 + 1e-6, RELAY_OK);
    return NULL;
}

static void record_two_ranks(void)
{
    snprintf(mpath, sizeof mpath, "%s/m.json", dir);
    relay__trace_setup(mpath, (size_t)1 << 20, 0);
    relay__trace_thread("main");
    double t0 = relay__now();
    relay__trace_task(UINT64_C(0x300), "good_fn", "good", t0, t0 + 1e-6, RELAY_OK);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, second_thread, NULL) == 0);
    pthread_join(th, NULL);
    good0 = relay__trace_pack(0, "h0", &len0);
    good1 = relay__trace_pack(1, "h1", &len1);
    CHECK(good0 != NULL && good1 != NULL);
    /* The string table ends the pack: spoiling its last byte spoils it. */
    CHECK(((const relay__trace_head_t *)good1)->strbytes > 0);
}

typedef void spoil_fn(relay__trace_head_t *h, size_t *len);

static void wrap_nevents(relay__trace_head_t *h, size_t *len)
{
    (void)len;
    /* nevents * sizeof(event) wraps around to the true size: a check
     * made after multiplying finds the layout right and reads 2^59
     * events. */
    h->nevents += UINT64_C(1) << (64 - __builtin_ctzll(sizeof(relay__tev_t)));
}

static void huge_nthreads(relay__trace_head_t *h, size_t *len)
{
    (void)len;
    h->nthreads = UINT32_MAX;
}

static void more_strbytes(relay__trace_head_t *h, size_t *len)
{
    (void)len;
    h->strbytes += 1;
}

static void fewer_strbytes(relay__trace_head_t *h, size_t *len)
{
    (void)len;
    h->strbytes -= 1;
}

static void unended_strings(relay__trace_head_t *h, size_t *len)
{
    ((char *)h)[*len - 1] = 'Z';
}

static void wrong_magic(relay__trace_head_t *h, size_t *len)
{
    (void)len;
    h->magic ^= 1;
}

static void shorter_than_head(relay__trace_head_t *h, size_t *len)
{
    (void)h;
    *len = sizeof *h - 1;
}

static void empty(relay__trace_head_t *h, size_t *len)
{
    (void)h;
    *len = 0;
}

/* Rank 1's pack, spoiled, beside rank 0's good one: rank 1 is left out,
 * the file is written and valid, with rank 0's events. The spoiled copy
 * is followed by bytes that are no NUL: a reader past its end shows. */
static void left_out(const char *what, spoil_fn *spoil)
{
    size_t len = len1;
    char *bad = malloc(len1 + 256);
    CHECK(bad != NULL);
    memcpy(bad, good1, len1);
    memset(bad + len1, 'Z', 256);
    spoil((relay__trace_head_t *)bad, &len);
    void *packs[2] = {good0, bad};
    size_t lens[2] = {len0, len}, events = 0;
    CHECK_EQ(relay__trace_write(mpath, packs, lens, 2, &events), 0);
    char *s = slurp_valid(mpath);
    if (!strstr(s, "\"ranks_traced\":1") || strstr(s, "rank 1 (") || strstr(s, "ZZZ")) {
        fprintf(stderr, "rank 1's pack with %s was not left out:\n%s\n", what, s);
        CHECK(0);
    }
    CHECK_EQ(test_count(s, "\"name\":\"rank 0 (h0)\""), 1);
    CHECK_EQ(test_count(s, "\"cat\":\"task\",\"name\":\"good_fn\""), 1);
    free(s);
    free(bad);
}

/* A pack whose names lack their NUL: kept, the names cut at their
 * field's end. host[] is followed by the thread table, a thread's name
 * by its padding (made printable here). */
static void names_unended(void)
{
    char *bad = malloc(len1);
    CHECK(bad != NULL);
    memcpy(bad, good1, len1);
    relay__trace_head_t *h = (void *)bad;
    memset(h->host, 'H', sizeof h->host);
    relay__trace_thread_t *th = (void *)(h + 1);
    CHECK(h->nthreads >= 2);
    memset(th[1].name, 'T', sizeof th[1].name);
    memset(&th[1].pad, 'P', sizeof th[1].pad);
    th[0].tid = 0x41; /* 'A' after the host, had it no end */
    void *packs[2] = {good0, bad};
    size_t lens[2] = {len0, len1}, events = 0;
    CHECK_EQ(relay__trace_write(mpath, packs, lens, 2, &events), 0);
    char *s = slurp_valid(mpath), want[128];
    CHECK(strstr(s, "\"ranks_traced\":2") != NULL);
    snprintf(want, sizeof want, "\"name\":\"rank 1 (%.*s)\"", (int)sizeof h->host - 1,
             "HHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHH");
    CHECK_EQ(test_count(s, want), 1);
    snprintf(want, sizeof want, "\"name\":\"%.*s\"", (int)sizeof th[1].name - 1,
             "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT");
    CHECK_EQ(test_count(s, want), 1);
    CHECK(strstr(s, "PPPP") == NULL);
    free(s);
    free(bad);
}

static void test_malformed(void)
{
    record_two_ranks();
    /* Both good: both ranks in. */
    void *packs[2] = {good0, good1};
    size_t lens[2] = {len0, len1}, events = 0;
    CHECK_EQ(relay__trace_write(mpath, packs, lens, 2, &events), 0);
    char *s = slurp_valid(mpath);
    CHECK(strstr(s, "\"ranks_traced\":2") != NULL);
    CHECK_EQ(test_count(s, "\"name\":\"rank 1 (h1)\""), 1);
    free(s);
    left_out("nevents wrapping the size", wrap_nevents);
    left_out("nthreads huge", huge_nthreads);
    left_out("strbytes too many", more_strbytes);
    left_out("strbytes too few", fewer_strbytes);
    left_out("strings not ending in NUL", unended_strings);
    left_out("a wrong magic", wrong_magic);
    left_out("fewer bytes than its head", shorter_than_head);
    left_out("no bytes", empty);
    names_unended();
    free(good0);
    free(good1);
    relay__trace_fini(0);
}

/* ---- names that are not UTF-8 --------------------------------------------- */

/* Names written as they came would make the file invalid JSON: bytes that
 * are no UTF-8 become U+FFFD, well-formed characters stay. */
static void test_not_utf8(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/u.json", dir);
    relay__trace_setup(path, (size_t)1 << 20, 0);
    relay__trace_thread("w\xe9rker"); /* Latin-1 */
    double t0 = relay__now();
    /* Bytes that never start UTF-8, and a name cut after the first byte
     * of a two-byte character. */
    relay__trace_task(UINT64_C(0x400), "fn\xff\xfe", "caf\xc3", t0, t0 + 1e-6, RELAY_OK);
    /* Sixteen two-byte characters: the event's copy (RELAY__TEV_TEXT
     * bytes with the NUL) cuts the last one in half. */
    char many[2 * 16 + 1] = "";
    for (int i = 0; i < 16; i++)
        strcat(many, "\xc3\xa9");
    CHECK_EQ(strlen(many), (size_t)RELAY__TEV_TEXT);
    relay__trace_task(UINT64_C(0x500), "caf\xc3\xa9", many, t0, t0 + 1e-6, RELAY_OK);
    /* Surrogates and overlong forms are no UTF-8 either. */
    relay__trace_task(UINT64_C(0x600), "s\xed\xa0\x80", "o\xe0\x80\xaf", t0, t0 + 1e-6, RELAY_OK);
    size_t len = 0, events = 0;
    void *pack = relay__trace_pack(0, "h\x80", &len);
    void *packs[1] = {pack};
    CHECK_EQ(relay__trace_write(path, packs, &len, 1, &events), 0);
    char *s = slurp_valid(path);
    CHECK(strstr(s, "\\ufffd") != NULL);
    CHECK(strstr(s, "\"name\":\"w\\ufffdrker\"") != NULL);
    CHECK(strstr(s, "\"function\":\"fn\\ufffd\\ufffd\"") != NULL);
    CHECK(strstr(s, "\"name\":\"caf\\ufffd\"") != NULL);
    CHECK(strstr(s, "\"function\":\"caf\xc3\xa9\"") != NULL);
    char want[128];
    snprintf(want, sizeof want, "\"name\":\"%.30s\\ufffd\"", many);
    CHECK(strstr(s, want) != NULL);
    CHECK(strstr(s, "rank 0 (h\\ufffd)") != NULL);
    free(s);
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
    test_malformed();
    test_not_utf8();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
    printf("unit_trace: PASS\n");
    return 0;
}
