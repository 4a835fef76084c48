/* The object store's eviction order (store.c), in one process without
 * MPI: the real store with its I/O thread over a spill file in a temporary
 * directory, objects of 1 KiB under a budget of a few of them. What goes
 * to the file is the least recently used object that only the store
 * holds; an object in use (a view, a task, a transfer: here the test's own
 * reference) is never written, and a lookup makes an object the most
 * recently used. */
#include <pthread.h>
#include <unistd.h>

#include "log.h"
#include "object.h"
#include "runtime.h"
#include "spill.h"
#include "store.h"
#include "testutil.h"

#define KB 1024

static char dir[64];
static int scenario_no;

static void lock(void)
{
    pthread_mutex_lock(&relay__g.lock);
}

static void unlock(void)
{
    pthread_mutex_unlock(&relay__g.lock);
}

static void store_open(uint64_t budget)
{
    char job[32]; /* <stamp>-<pid of rank 0>, as spill file names need */
    snprintf(job, sizeof job, "unit%d-%d", ++scenario_no, (int)getpid());
    CHECK_OK(relay__spill_init(dir, "spill_dir", job, 0, 0, 0));
    CHECK_OK(relay__store_init(budget));
}

static void store_close(void)
{
    relay__store_destroy();
    relay__spill_fini();
    CHECK_EQ(relay__g.live_objects, 0);
}

static uint64_t id_of(char name)
{
    return relay__id_make(0, (uint64_t)(scenario_no * 100 + name), 0);
}

/* Insert object `name` of 1 KiB. keep: the caller keeps a reference (it
 * is in use), returned; otherwise only the store holds it. */
static struct relay_object *put(char name, int keep)
{
    struct relay_object *o = relay__obj_new(id_of(name), KB, 0);
    CHECK(o != NULL);
    test_fill(o->data, KB, (uint64_t)name);
    lock();
    relay__store_insert(o);
    unlock();
    if (keep) return o;
    relay__obj_unref(o);
    return NULL;
}

/* A use of `name` (a get or a task): it becomes the most recently used. */
static void use(char name)
{
    lock();
    struct relay_object *o = relay__store_lookup(id_of(name));
    unlock();
    CHECK(o != NULL);
    relay__obj_unref(o);
}

static relay__store_stats_t stats(void)
{
    relay__store_stats_t s;
    lock();
    relay__store_stats(&s);
    unlock();
    return s;
}

/* Wait until `want` objects are in the file and no write is under way,
 * then check that exactly the objects named in `spilled` (of those named
 * in `all`) are there, and that `writes` were done. */
static void expect_writes(const char *all, const char *spilled, uint64_t writes, const char *why)
{
    uint64_t want = strlen(spilled);
    double until = test_now() + 10.0;
    relay__store_stats_t s = stats();
    while (s.spilled_objects < want && test_now() < until) {
        test_sleep(0.001);
        s = stats();
    }
    /* Whatever else would go has had time to. */
    test_sleep(0.05);
    s = stats();
    lock();
    for (const char *p = all; *p; p++) {
        int on_disk = relay__store_spilled(id_of(*p));
        int should = strchr(spilled, *p) != NULL;
        if (on_disk != should)
            fprintf(stderr, "%s: object %c is %s the spill file\n", why, *p,
                    on_disk ? "in" : "not in");
        CHECK_EQ(on_disk, should);
    }
    unlock();
    CHECK_EQ(s.spilled_objects, want);
    CHECK_EQ(s.writes, writes);
    CHECK_EQ(s.failures, 0);
    CHECK_EQ(s.objects, strlen(all));
    CHECK_EQ(s.bytes_in_memory, (strlen(all) - want) * KB);
}

/* The same, where every write left memory (nothing in use was written). */
static void expect(const char *all, const char *spilled, const char *why)
{
    expect_writes(all, spilled, strlen(spilled), why);
}

/* Least recently used first; a use moves an object to the front. */
static void lru_order(void)
{
    store_open(4 * KB);
    put('A', 0);
    put('B', 0);
    put('C', 0);
    put('D', 0);
    expect("ABCD", "", "four fit");
    put('E', 0);
    expect("ABCDE", "A", "the oldest goes");
    use('B');
    put('F', 0);
    expect("ABCDEF", "AC", "B was used: C is the oldest");
    use('D');
    use('E');
    put('G', 0);
    expect("ABCDEFG", "ACB", "D and E were used after B");
    put('H', 0);
    expect("ABCDEFGH", "ACBF", "then F");
    store_close();
}

/* Objects in use stay in memory whatever their age, over the budget if
 * need be; once let go they are the oldest again. */
static void in_use(void)
{
    store_open(3 * KB);
    struct relay_object *a = put('A', 1);
    put('B', 0);
    put('C', 0);
    put('D', 0);
    expect("ABCD", "B", "A is in use: B goes");
    put('E', 0);
    expect("ABCDE", "BC", "then C");
    /* A lookup's reference keeps D in memory too. */
    lock();
    struct relay_object *d = relay__store_lookup(id_of('D'));
    unlock();
    CHECK(d != NULL);
    put('F', 0);
    expect("ABCDEF", "BCE", "D was used and is in use: E goes");
    /* Only what is in use is left in memory: over the budget, nothing goes. */
    struct relay_object *f = NULL;
    lock();
    f = relay__store_lookup(id_of('F'));
    unlock();
    struct relay_object *g = put('G', 1);
    expect("ABCDEFG", "BCE", "A, D, F and G are in use");
    /* Let go of A, the oldest: it goes, and memory is within the budget. */
    relay__obj_unref(a);
    expect("ABCDEFG", "BCEA", "A let go");
    relay__obj_unref(d);
    relay__obj_unref(f);
    relay__obj_unref(g);
    expect("ABCDEFG", "BCEA", "three fit");
    put('H', 0);
    expect("ABCDEFGH", "BCEAD", "D is the oldest of those let go");
    store_close();
}

/* Used while it is being written: it stays in memory (the next oldest
 * goes instead), and later leaves memory without a second write. */
static void used_while_written(void)
{
    store_open(2 * KB);
    put('A', 0);
    put('B', 0);
    struct relay_object *c = relay__obj_new(id_of('C'), KB, 0);
    CHECK(c != NULL);
    test_fill(c->data, KB, 3);
    lock();
    relay__store_insert(c); /* A's write is queued */
    struct relay_object *a = relay__store_lookup(id_of('A'));
    unlock();
    CHECK(a != NULL);
    relay__obj_unref(c);
    expect_writes("ABC", "B", 2, "A was written but is in use: B goes too");
    relay__obj_unref(a);
    use('C');
    put('D', 0);
    expect_writes("ABCD", "BA", 2, "A leaves memory, not written again");
    store_close();
}

int main(void)
{
    relay__g.cfg.log_level = RELAY__LOG_ERROR;
    snprintf(dir, sizeof dir, "/tmp/relay-unit-store-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    lru_order();
    in_use();
    used_while_written();
    CHECK_EQ(rmdir(dir), 0); /* every spill file was removed */
    printf("unit_store: PASS\n");
    return 0;
}
