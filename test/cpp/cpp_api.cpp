// relay from C++: relay.h's C API and relay.hpp's RAII and typed helpers,
// built once per C++ standard with -Wall -Wextra -pedantic -Werror.
#include "relay.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: CHECK FAILED: %s (%s)\n", __FILE__, __LINE__, #cond,      \
                         relay_last_error());                                                      \
            std::abort();                                                                          \
        }                                                                                          \
    } while (0)

extern "C" {

static int square(relay_ctx_t *ctx)
{
    return relay::task(ctx, [&] {
        int x = relay::ctx_arg<int>(ctx, 0);
        relay::ctx_return(ctx, 0, x * x);
    });
}

static int pair(relay_ctx_t *ctx)
{
    return relay::task(ctx, [&] {
        relay::ctx_return(ctx, 0, 1);
        relay::ctx_return(ctx, 1, 2);
    });
}

static int throws(relay_ctx_t *ctx)
{
    return relay::task(ctx, [&] { throw std::runtime_error("boom from C++"); });
}

static int counter_init(relay_ctx_t *, void **state_p)
{
    *state_p = new long(0);
    return 0;
}

static int counter_add(relay_ctx_t *ctx, void *state)
{
    return relay::task(ctx, [&] {
        long *total = static_cast<long *>(state);
        *total += relay::ctx_arg<long>(ctx, 0);
        relay::ctx_return(ctx, 0, *total);
    });
}

static void counter_fini(void *state)
{
    delete static_cast<long *>(state);
}
}

static uint64_t held_refs()
{
    relay_stats_t stats;
    relay::check(relay_stats(&stats));
    return stats.held_refs;
}

static void tasks()
{
    int x = 7;
    relay::ref r = relay::submit("square", {relay::arg(x)});
    CHECK(relay::get<int>(r) == 49);

    // A ref argument: the task reads the put object's bytes.
    relay::ref five = relay::put(5);
    CHECK(relay::get<int>(relay::submit("square", {relay::arg(five)})) == 25);

    // An exception in a task fails it; get throws with the task's reason.
    relay::ref bad = relay::submit("throws", {});
    try {
        (void)relay::get<int>(bad);
        CHECK(!"get of a failed task returned");
    } catch (const relay::error &e) {
        CHECK(e.status() == RELAY_ERR_TASK_FAILED);
        CHECK(std::string(e.what()).find("boom from C++") != std::string::npos);
    }

    // get_object of a failed task: the error view relay_get hands back is
    // freed when the exception is thrown.
    relay_stats_t stats;
    relay::check(relay_stats(&stats));
    uint64_t views = stats.live_views;
    try {
        (void)relay::get_object(bad);
        CHECK(!"get_object of a failed task returned");
    } catch (const relay::error &e) {
        CHECK(e.status() == RELAY_ERR_TASK_FAILED);
    }
    relay::check(relay_stats(&stats));
    CHECK(stats.live_views == views);

    // Several returns: submit_n; submit refuses opts asking for other than one.
    relay_task_opts_t two = {};
    two.field_mask = RELAY_TASK_OPT_NUM_RETURNS;
    two.num_returns = 2;
    std::vector<relay::ref> both = relay::submit_n("pair", {}, &two);
    CHECK(both.size() == 2 && relay::get<int>(both[0]) == 1 && relay::get<int>(both[1]) == 2);
    try {
        (void)relay::submit("pair", {}, &two);
        CHECK(!"submit with num_returns 2 returned");
    } catch (const relay::error &e) {
        CHECK(e.status() == RELAY_ERR_INVALID_ARG);
    }
}

static void ownership()
{
    uint64_t before = held_refs();
    {
        relay::ref a = relay::put(1.5);
        CHECK(held_refs() == before + 1);
        relay::ref b = std::move(a);
        CHECK(!a && b);
        relay::ref c = b.share();
        CHECK(relay::get<double>(c) == 1.5);
    }
    CHECK(held_refs() == before); // released by the destructors

    double xs[4] = {1, 2, 3, 4};
    relay_ref_t raw;
    relay::check(relay_put(xs, sizeof xs, &raw));
    relay::ref owned(raw);
    relay::object obj = relay::get_object(owned);
    std::size_t n = 0;
    const double *view = obj.as<double>(&n);
    CHECK(n == 4 && view[3] == 4.0);
}

static void actors()
{
    relay_actor_t none = RELAY_ACTOR_NULL;
    relay_ref_t null_ref = RELAY_REF_NULL;
    CHECK(none.id == 0 && null_ref.id == 0);

    relay_actor_t counter = none;
    relay::check(relay_actor_create("counter", nullptr, 0, nullptr, &counter));
    CHECK(counter.id != 0);
    long totals[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        long add = 3;
        relay_arg_t arg = relay::arg(add);
        relay_ref_t out;
        relay::check(relay_actor_call(counter, "add", &arg, 1, nullptr, &out));
        totals[i] = relay::get<long>(relay::ref(out));
    }
    CHECK(totals[0] == 3 && totals[1] == 6);
    relay::check(relay_actor_kill(counter));
}

/* Before any task: everything is free, as relay_resource_capacity counts it. */
static void resources()
{
    double cpus = 0;
    relay::check(relay_resource_capacity(-1, "CPU", &cpus));
    relay::resources total = relay::cluster_resources(), avail = relay::available_resources();
    CHECK(total.cpus == cpus && cpus > 0);
    CHECK(avail.cpus == total.cpus && avail.gpus == total.gpus);
    CHECK(avail.custom == total.custom);
    CHECK(relay::cluster_resources(1).cpus + relay::cluster_resources(0).cpus == cpus);
    try {
        relay::available_resources(2);
        CHECK(!"available_resources(2) on 2 ranks returned");
    } catch (const relay::error &e) {
        CHECK(e.status() == RELAY_ERR_INVALID_ARG);
    }
}

int main(int argc, char **argv)
{
    static const relay_method_t methods[] = {{"add", counter_add, 1}};
    relay_actor_class_t cls = {counter_init, 0, counter_fini, methods, 1};
    relay::check(relay_register("square", square));
    relay::check(relay_register("throws", throws));
    relay::check(relay_register("pair", pair));
    relay::check(relay_register_actor("counter", &cls));
    relay::check(relay_init(&argc, &argv, nullptr));
    int rank = -1;
    relay::check(relay_rank(&rank));
    if (rank == 0) {
        resources();
        tasks();
        ownership();
        actors();
        std::printf("cpp_api (C++%ld): PASS\n", static_cast<long>(__cplusplus / 100 % 100));
    }
    relay::check(relay_finalize());
    return 0;
}
