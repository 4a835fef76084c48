// Smallest relay program in C++: square a number in a task.
#include <cstdio>

#include "relay.hpp"

extern "C" int square(relay_ctx_t *ctx)
{
    return relay::task(ctx, [&] {
        int x = relay::ctx_arg<int>(ctx, 0);
        relay::ctx_return(ctx, 0, x * x);
    });
}

int main(int argc, char **argv)
{
    try {
        relay::check(relay_register("square", square));
        relay::check(relay_init(&argc, &argv, nullptr));
        int rank = -1;
        relay::check(relay_rank(&rank));
        if (rank == 0) {
            int x = 7;
            relay::ref y = relay::submit("square", {relay::arg(x)});
            std::printf("square(%d) = %d\n", x, relay::get<int>(y));
        }
    } catch (const relay::error &e) {
        std::fprintf(stderr, "relay: %s\n", e.what());
        relay_finalize();
        return 1;
    }
    return relay_finalize() == RELAY_OK ? 0 : 1;
}
