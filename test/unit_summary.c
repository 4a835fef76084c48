/* The summary table (summary.c) without MPI: per-rank and per-function
 * records as two ranks would send them, merged by name and printed; the
 * test reads the table back and checks its numbers, its order (longest
 * total first), its totals, and that odd names (control characters, UTF-8,
 * too long) keep the columns aligned and are cut between characters. */
#include "summary.h"
#include "testutil.h"

#define MS 1000000ull /* ns */

static char text[16384];
static char *lines[64];
static int nlines;

/* Prints the table into text and splits it into lines. */
static void print_table(const relay__summary_rank_t *ranks, const char *missing,
                        relay__summary_fn_t *fns, size_t n)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    relay__summary_print(f, 12.5, 2, ranks, missing, fns, n);
    rewind(f);
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    fputs(text, stdout);
    nlines = 0;
    for (char *p = text; *p && nlines < 64;) {
        lines[nlines++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
}

/* The line whose first field is label, or NULL. */
static const char *row(const char *label)
{
    for (int i = 1; i < nlines; i++) {
        char first[300];
        if (sscanf(lines[i], "%299s", first) == 1 && !strcmp(first, label)) return lines[i];
    }
    return NULL;
}

static int index_of(const char *label)
{
    const char *r = row(label);
    for (int i = 0; i < nlines; i++)
        if (lines[i] == r) return i;
    return -1;
}

static relay__summary_fn_t fn(const char *name, uint64_t count, uint64_t total_ms, uint64_t max_ms,
                              uint64_t failures)
{
    relay__summary_fn_t f;
    memset(&f, 0, sizeof f);
    snprintf(f.name, sizeof f.name, "%s", name);
    f.count = count;
    f.total_ns = total_ms * MS;
    f.max_ns = max_ms * MS;
    f.failures = failures;
    return f;
}

/* Characters (not bytes) of a UTF-8 string. */
static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void check_ranks(void)
{
    unsigned long long tasks;
    double busy, blocked;
    char sent[16], unit[8];
    CHECK(!strncmp(lines[0], "relay summary: 2 ranks, 12.500 s wall time", 42));
    CHECK(strstr(lines[1], "obj_*: bytes of large-object transfers") != NULL);
    CHECK(sscanf(row("1"), "%*s %llu %lf %lf %15s %7s", &tasks, &busy, &blocked, sent, unit) == 5);
    CHECK_EQ(tasks, 31);
    CHECK(busy > 3.49 && busy < 3.51);
    CHECK(blocked > 0.19 && blocked < 0.21);
    CHECK(!strcmp(sent, "4.00") && !strcmp(unit, "MiB"));
    CHECK(sscanf(row("all"), "%*s %llu", &tasks) == 1);
    CHECK_EQ(tasks, 31 + 2);
    /* The highest peak, not a sum; sizes under 1 KiB in bytes. */
    CHECK(strstr(row("all"), "512 B") != NULL);
    CHECK(strstr(row("all"), "3.00 MiB") != NULL);
    CHECK(strstr(row("all"), "5.00 MiB") == NULL);
    CHECK_EQ(index_of("0") + 1, index_of("1"));
}

static void check_fns(const char *long_name)
{
    unsigned long long count, failures;
    double total, mean, max;
    /* Longest total first: B (3 s), A (2 s over two ranks), C.m, ... */
    int b = index_of("B"), a = index_of("A"), m = index_of("C.m");
    CHECK(b > 0 && a == b + 1 && m == a + 1);
    CHECK(sscanf(row("A"), "%*s %llu %lf %lf %lf %llu", &count, &total, &mean, &max, &failures) ==
          5);
    CHECK_EQ(count, 20);
    CHECK_EQ(failures, 0);
    CHECK(total > 1.999 && total < 2.001);
    CHECK(mean > 99.99 && mean < 100.01);
    CHECK(max > 299.99 && max < 300.01); /* the larger of the two ranks' */
    CHECK(sscanf(row("B"), "%*s %llu %*f %*f %*f %llu", &count, &failures) == 2);
    CHECK_EQ(count, 5);
    CHECK_EQ(failures, 5);
    CHECK(sscanf(row("(total)"), "%*s %llu %lf %*f %lf %llu", &count, &total, &max, &failures) ==
          4);
    CHECK_EQ(count, 20 + 5 + 1 + 1 + 1);
    CHECK_EQ(failures, 5 + 1);
    CHECK(max > 999.99 && max < 1000.01);
    /* A control character cannot break the line; a long name is cut to
     * 40 characters, after the 2-byte character, not inside it. */
    CHECK(row("bad?name?x") != NULL);
    char cut[128];
    snprintf(cut, sizeof cut, "%.38s...", long_name); /* 36 'x', then the 2 bytes of é */
    CHECK(row(cut) != NULL);
    /* Every function row as wide as the header, in characters. */
    int header = index_of("function");
    CHECK(header > 0);
    for (int i = header; i < nlines; i++)
        CHECK_EQ(chars(lines[i]), chars(lines[header]));
}

static void check_merge(void)
{
    relay__summary_fn_t v[4] = {fn("x", 1, 1, 1, 0), fn("y", 1, 5, 5, 1), fn("x", 2, 2, 2, 1),
                                fn("x", 3, 3, 3, 0)};
    /* A name that fills its record without a NUL (from the wire). */
    memset(v[3].name, 'z', sizeof v[3].name);
    CHECK_EQ(relay__summary_merge(v, 4), 3);
    CHECK(!strcmp(v[0].name, "y"));
    CHECK(!strcmp(v[1].name, "x") && v[1].count == 3 && v[1].failures == 1);
    CHECK_EQ(v[1].max_ns, 2 * MS);
    CHECK_EQ(strlen(v[2].name), RELAY__SUMMARY_NAME - 1);
    CHECK_EQ(relay__summary_merge(v, 0), 0);
}

/* A rank whose report did not come: said so on its row, left out of the
 * sums (its figures are zeros, as the gather leaves them). */
static void check_missing(relay__summary_rank_t *ranks)
{
    relay__summary_rank_t two[2] = {ranks[0], {0}};
    char missing[2] = {0, 1};
    relay__summary_fn_t one[] = {fn("A", 3, 30, 10, 0)};
    print_table(two, missing, one, 1);
    CHECK(row("1") != NULL);
    CHECK_CONTAINS(row("1"), "(no report: the rank was lost or did not finalize in time)");
    CHECK(row("0") != NULL && strstr(row("0"), "no report") == NULL);
    long long tasks = -1;
    CHECK_EQ(sscanf(row("all"), " all %lld", &tasks), 1);
    CHECK_EQ(tasks, 2);
}

int main(void)
{
    relay__summary_rank_t ranks[2];
    memset(ranks, 0, sizeof ranks);
    ranks[0] = (relay__summary_rank_t){
        .tasks = 2, .busy_ns = 10 * MS, .msg_sent = 512, .peak_bytes = 3ull << 20};
    ranks[1] = (relay__summary_rank_t){.tasks = 31,
                                       .busy_ns = 3500 * MS,
                                       .blocked_ns = 200 * MS,
                                       .obj_sent = 4ull << 20,
                                       .spilled = 2,
                                       .restored = 1,
                                       .peak_bytes = 2ull << 20};
    char long_name[80];
    snprintf(long_name, sizeof long_name, "%s\xc3\xa9%s", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
             "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
    relay__summary_fn_t fns[] = {
        fn("A", 10, 1000, 200, 0), fn("C.m", 1, 500, 500, 0),     fn("B", 5, 3000, 1000, 5),
        fn("A", 10, 1000, 300, 0), fn(long_name, 1, 250, 250, 0), fn("bad\nname\tx", 1, 1, 1, 1),
    };
    print_table(ranks, NULL, fns, sizeof fns / sizeof *fns);
    check_ranks();
    check_fns(long_name);
    check_merge();
    check_missing(ranks);
    printf("unit_summary: OK\n");
    return 0;
}
