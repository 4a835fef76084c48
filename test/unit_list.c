/* base/list.h on its own: order, removal from anywhere, walks that remove
 * what they visit, and a random workload checked against an array model. */
#include <stdlib.h>

#include "check.h"
#include "list.h"

typedef struct item {
    int value;
    relay__list_t link;
} item_t;

static int value_at(relay__list_t *n)
{
    return RELAY__LIST_ENTRY(n, item_t, link)->value;
}

/* The list holds exactly want[0..n) front to back, and the same backwards. */
static void check_order(relay__list_t *l, const int *want, int n)
{
    int i = 0;
    for (relay__list_t *p = relay__list_first(l); p; p = relay__list_next(l, p), i++) {
        CHECK(i < n);
        CHECK_EQ(value_at(p), want[i]);
    }
    CHECK_EQ(i, n);
    for (relay__list_t *p = relay__list_last(l); p; p = relay__list_prev(l, p))
        CHECK_EQ(value_at(p), want[--i]);
    CHECK_EQ(i, 0);
    CHECK_EQ(relay__list_empty(l), n == 0);
}

static void test_basic(void)
{
    relay__list_t l;
    relay__list_init(&l);
    CHECK(relay__list_empty(&l));
    CHECK(relay__list_first(&l) == NULL && relay__list_last(&l) == NULL);
    CHECK(relay__list_pop_front(&l) == NULL);

    item_t it[5] = {{.value = 0}, {.value = 1}, {.value = 2}, {.value = 3}, {.value = 4}};
    CHECK(!relay__list_linked(&it[0].link)); /* zeroed: on no list */
    relay__list_push_back(&l, &it[1].link);
    relay__list_push_back(&l, &it[2].link);
    relay__list_push_front(&l, &it[0].link);
    relay__list_push_back(&l, &it[3].link);
    check_order(&l, (int[]){0, 1, 2, 3}, 4);
    CHECK(relay__list_linked(&it[2].link));

    relay__list_remove(&it[2].link); /* middle */
    CHECK(!relay__list_linked(&it[2].link));
    relay__list_remove(&it[2].link); /* again: harmless */
    relay__list_remove(&it[4].link); /* never linked: harmless */
    check_order(&l, (int[]){0, 1, 3}, 3);
    relay__list_remove(&it[3].link); /* back */
    check_order(&l, (int[]){0, 1}, 2);
    CHECK(relay__list_pop_front(&l) == &it[0].link);
    CHECK(!relay__list_linked(&it[0].link));
    check_order(&l, (int[]){1}, 1);
    relay__list_insert_after(&it[1].link, &it[4].link);
    check_order(&l, (int[]){1, 4}, 2);
    relay__list_remove(&it[1].link);
    relay__list_remove(&it[4].link);
    check_order(&l, NULL, 0);
}

/* RELAY__LIST_EACH may remove, and even free, the element it visits. */
static void test_each_removes(void)
{
    relay__list_t l;
    relay__list_init(&l);
    for (int i = 0; i < 10; i++) {
        item_t *it = calloc(1, sizeof *it);
        CHECK(it != NULL);
        it->value = i;
        relay__list_push_back(&l, &it->link);
    }
    item_t *it;
    int seen = 0;
    RELAY__LIST_EACH(&l, it, item_t, link)
    {
        CHECK_EQ(it->value, seen++);
        if (it->value % 2) {
            relay__list_remove(&it->link);
            free(it);
        }
    }
    CHECK_EQ(seen, 10);
    check_order(&l, (int[]){0, 2, 4, 6, 8}, 5);
    seen = 0;
    RELAY__LIST_EACH(&l, it, item_t, link)
    {
        seen++;
        free(it); /* not even unlinked: the walk has read its successor */
    }
    CHECK_EQ(seen, 5);
}

/* Random pushes at both ends, pops and removals, against an array. */
static void test_model(void)
{
    enum { N = 256, OPS = 200000 };
    item_t items[N];
    int model[N], n = 0;
    relay__list_t l;
    relay__list_init(&l);
    for (int i = 0; i < N; i++) {
        items[i].value = i;
        relay__list_init(&items[i].link);
    }
    srand(7);
    for (int op = 0; op < OPS; op++) {
        int i = rand() % N, kind = rand() % 4;
        if (kind < 2 && !relay__list_linked(&items[i].link)) {
            if (kind == 0) {
                relay__list_push_back(&l, &items[i].link);
                model[n++] = i;
            } else {
                relay__list_push_front(&l, &items[i].link);
                for (int k = n++; k > 0; k--)
                    model[k] = model[k - 1];
                model[0] = i;
            }
        } else if (kind == 2 && relay__list_linked(&items[i].link)) {
            relay__list_remove(&items[i].link);
            int k = 0;
            while (model[k] != i)
                k++;
            for (n--; k < n; k++)
                model[k] = model[k + 1];
        } else if (kind == 3 && n > 0) {
            relay__list_t *first = relay__list_pop_front(&l);
            CHECK_EQ(value_at(first), model[0]);
            for (int k = 0; k < n - 1; k++)
                model[k] = model[k + 1];
            n--;
        }
        if (op % 997 == 0) check_order(&l, model, n);
    }
    check_order(&l, model, n);
}

int main(void)
{
    test_basic();
    test_each_removes();
    test_model();
    printf("unit_list: ok\n");
    return 0;
}
