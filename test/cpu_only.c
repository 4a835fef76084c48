/* A program that uses no GPU, as a CPU-only user writes it: run by
 * no_cudart.sh where libcudart is hidden, it must start, run tasks on
 * every rank and finish; a task asking for a GPU is refused with the usual
 * RELAY_ERR_INFEASIBLE (no rank has one). */
#include "testutil.h"

#define TASKS 40

static int fn_square(relay_ctx_t *ctx)
{
    int64_t x = test_arg_i64(ctx, 0);
    return test_ret_i64(ctx, x * x);
}

int main(int argc, char **argv)
{
    CHECK_OK(relay_register("square", fn_square));
    CHECK_OK(relay_init(&argc, &argv, NULL));
    int rank = test_rank();
    if (rank == 0) {
        relay_ref_t r[TASKS];
        for (int64_t i = 0; i < TASKS; i++) {
            relay_arg_t a = relay_arg_value(&i, sizeof i);
            r[i] = test_submit("square", &a, 1);
        }
        for (int64_t i = 0; i < TASKS; i++) {
            CHECK_EQ(test_get_i64(r[i]), i * i);
            CHECK_OK(relay_release(r[i]));
        }
        relay_task_opts_t o = {.field_mask = RELAY_TASK_OPT_NUM_GPUS, .num_gpus = 1};
        relay_ref_t g;
        CHECK_STATUS(relay_submit("square", NULL, 0, &o, &g), RELAY_ERR_INFEASIBLE);
        CHECK_CONTAINS(relay_last_error(), "1 GPU");
    }
    CHECK_OK(relay_finalize());
    if (rank == 0) printf("cpu_only: PASS\n");
    return 0;
}
