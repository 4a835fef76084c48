/* The id -> pointer map (hashmap.c): put, get, remove and replace; growth
 * to 100k keys; random churn checked against a plain array of what should
 * be there, on a small table (long probe runs that wrap around the end)
 * and a large one; key 0 (the empty mark) and the largest key. */
#include "hashmap.h"
#include "testutil.h"

/* xorshift64*: the same sequence on every machine. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static void *val(uint64_t v)
{
    return (void *)(uintptr_t)v;
}

/* Every live slot is a key of the map, the count matches, the load stays
 * at most 3/4 of a power-of-two capacity. */
static void check_shape(const relay__map_t *m)
{
    size_t live = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key) {
            live++;
            CHECK(relay__map_get(m, m->slots[i].key) == m->slots[i].value);
        }
    CHECK_EQ(live, m->count);
    if (m->cap) {
        CHECK_EQ(m->cap & (m->cap - 1), 0);
        CHECK_LE(m->count * 4, m->cap * 3);
    }
}

static void basics(void)
{
    relay__map_t m;
    relay__map_init(&m);
    /* An empty map, never allocated: nothing is there. */
    CHECK(relay__map_get(&m, 1) == NULL);
    CHECK(relay__map_remove(&m, 1) == NULL);
    CHECK_EQ(m.count, 0);

    CHECK_EQ(relay__map_put(&m, 7, val(70)), 0);
    CHECK_EQ(relay__map_put(&m, 8, val(80)), 0);
    CHECK_EQ(m.count, 2);
    CHECK(relay__map_get(&m, 7) == val(70));
    CHECK(relay__map_get(&m, 8) == val(80));
    CHECK(relay__map_get(&m, 9) == NULL);

    /* Replacing keeps one entry and the new value. */
    CHECK_EQ(relay__map_put(&m, 7, val(71)), 0);
    CHECK_EQ(m.count, 2);
    CHECK(relay__map_get(&m, 7) == val(71));

    /* Removing returns the value once; a missing key changes nothing. */
    CHECK(relay__map_remove(&m, 7) == val(71));
    CHECK(relay__map_remove(&m, 7) == NULL);
    CHECK(relay__map_remove(&m, 12345) == NULL);
    CHECK_EQ(m.count, 1);
    CHECK(relay__map_get(&m, 7) == NULL);
    CHECK(relay__map_get(&m, 8) == val(80));

    /* The largest key is a key like any other. */
    CHECK_EQ(relay__map_put(&m, UINT64_MAX, val(1)), 0);
    CHECK(relay__map_get(&m, UINT64_MAX) == val(1));
    /* Key 0 marks an empty slot and is no key (hashmap.h): never found.
     * (Putting or removing it is outside the contract, so not done here.) */
    CHECK(relay__map_get(&m, 0) == NULL);
    CHECK_EQ(m.count, 2);
    CHECK(relay__map_remove(&m, UINT64_MAX) == val(1));
    check_shape(&m);

    relay__map_destroy(&m);
    CHECK_EQ(m.cap, 0);
    CHECK_EQ(m.count, 0);
    CHECK(relay__map_get(&m, 8) == NULL);
}

/* Object ids as the runtime makes them: rank | sequence | return index. */
static uint64_t id_key(uint64_t i)
{
    return ((i % 7) << 44) | ((i / 7 + 1) << 8) | (i % 3);
}

static void growth(void)
{
    enum { N = 100000 };
    relay__map_t m;
    relay__map_init(&m);
    for (uint64_t i = 0; i < N; i++) {
        CHECK_EQ(relay__map_put(&m, id_key(i), val(i + 1)), 0);
        CHECK_EQ(m.count, i + 1);
    }
    check_shape(&m);
    for (uint64_t i = 0; i < N; i++)
        CHECK(relay__map_get(&m, id_key(i)) == val(i + 1));
    CHECK(relay__map_get(&m, id_key(N)) == NULL);
    /* Every other one goes; the rest stay findable. */
    for (uint64_t i = 0; i < N; i += 2)
        CHECK(relay__map_remove(&m, id_key(i)) == val(i + 1));
    CHECK_EQ(m.count, N / 2);
    for (uint64_t i = 0; i < N; i++)
        CHECK(relay__map_get(&m, id_key(i)) == (i % 2 ? val(i + 1) : NULL));
    check_shape(&m);
    relay__map_destroy(&m);
}

/* Random puts, replaces and removes (remove_pct in 100) over nkeys keys,
 * checked after every step against model[] (0: absent), and all of it now
 * and then. */
static void churn(uint64_t seed, size_t nkeys, int steps, int remove_pct, int dense)
{
    uint64_t *keys = malloc(nkeys * sizeof *keys);
    uint64_t *model = calloc(nkeys, sizeof *model);
    CHECK(keys && model);
    uint64_t s = seed;
    for (size_t i = 0; i < nkeys; i++)
        keys[i] = dense ? i + 1 : (rng_next(&s) | 1);
    relay__map_t m;
    relay__map_init(&m);
    size_t present = 0;
    for (int step = 0; step < steps; step++) {
        uint64_t r = rng_next(&s);
        size_t k = (size_t)(r % nkeys);
        if ((int)((r >> 32) % 100) < remove_pct) {
            void *got = relay__map_remove(&m, keys[k]);
            CHECK(got == (model[k] ? val(model[k]) : NULL));
            present -= model[k] != 0;
            model[k] = 0;
        } else {
            uint64_t v = (uint64_t)step + 1;
            CHECK_EQ(relay__map_put(&m, keys[k], val(v)), 0);
            present += model[k] == 0;
            model[k] = v;
        }
        CHECK_EQ(m.count, present);
        CHECK(relay__map_get(&m, keys[k]) == (model[k] ? val(model[k]) : NULL));
        if (step % 997 == 0 || step == steps - 1) {
            for (size_t i = 0; i < nkeys; i++)
                CHECK(relay__map_get(&m, keys[i]) == (model[i] ? val(model[i]) : NULL));
            check_shape(&m);
        }
    }
    if (nkeys <= 47) CHECK_EQ(m.cap, 64); /* as intended: it never grew */
    /* Empty it: every removal finds its key. */
    for (size_t i = 0; i < nkeys; i++) {
        CHECK(relay__map_remove(&m, keys[i]) == (model[i] ? val(model[i]) : NULL));
        CHECK(relay__map_remove(&m, keys[i]) == NULL);
    }
    CHECK_EQ(m.count, 0);
    check_shape(&m);
    relay__map_destroy(&m);
    free(keys);
    free(model);
}

/* Key 0 and NULL values are refused and leave the map as it was (a record
 * naming id 0 must not corrupt a table); RELAY__MAP_EACH visits every
 * value once. */
static void refusals_and_walk(void)
{
    relay__map_t m;
    relay__map_init(&m);
    CHECK_EQ(relay__map_put(&m, 0, val(1)), -1);
    CHECK_EQ(relay__map_put(&m, 5, NULL), -1);
    CHECK_EQ(m.count, 0);
    CHECK(relay__map_remove(&m, 0) == NULL);
    CHECK_EQ(m.count, 0);
    uint64_t sum = 0, want = 0;
    for (uint64_t k = 1; k <= 1000; k++) {
        CHECK_EQ(relay__map_put(&m, k * 7919, val(k)), 0);
        want += k;
    }
    CHECK(relay__map_remove(&m, 0) == NULL);
    CHECK_EQ(m.count, 1000);
    void *v;
    size_t visits = 0;
    RELAY__MAP_EACH(&m, v)
    {
        sum += (uint64_t)(uintptr_t)v;
        visits++;
    }
    CHECK_EQ(visits, 1000);
    CHECK_EQ(sum, want);
    relay__map_destroy(&m);
    relay__map_init(&m);
    RELAY__MAP_EACH(&m, v) CHECK(0); /* an empty map has nothing to visit */
    relay__map_destroy(&m);
}

int main(void)
{
    basics();
    refusals_and_walk();
    growth();
    /* At most 47 keys: the table stays at 64 slots, mostly three quarters
     * full, so removals shift long runs that wrap around its end. */
    churn(1, 47, 200000, 25, 1);
    churn(2, 47, 200000, 25, 0);
    churn(3, 47, 200000, 50, 0);
    churn(4, 5000, 300000, 40, 0);
    churn(5, 5000, 300000, 40, 1);
    printf("unit_hashmap: PASS\n");
    return 0;
}
