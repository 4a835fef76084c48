/* Smallest relay program: square a number in a task. */
#include <stdio.h>

#include "relay.h"

static int square(relay_ctx_t *ctx)
{
    const void *data;
    size_t size;
    int rc = relay_ctx_arg(ctx, 0, &data, &size);
    if (rc != RELAY_OK || size != sizeof(int)) {
        relay_ctx_fail(ctx, "square wants one int");
        return -1;
    }
    int x = *(const int *)data, y = x * x;
    return relay_ctx_return(ctx, 0, &y, sizeof y);
}

int main(void)
{
    int rank = -1, x = 7, y = 0, rc;
    relay_register("square", square);
    if ((rc = relay_init(NULL, NULL, NULL)) != RELAY_OK) {
        fprintf(stderr, "relay_init: %s (%s)\n", relay_strerror(rc), relay_last_error());
        return 1;
    }
    relay_rank(&rank);
    if (rank == 0) {
        relay_ref_t ref;
        relay_arg_t arg = relay_arg_value(&x, sizeof x);
        rc = relay_submit("square", &arg, 1, NULL, &ref);
        if (rc == RELAY_OK) {
            rc = relay_get_value(ref, &y, sizeof y, RELAY_FOREVER);
            relay_release(ref);
        }
        if (rc == RELAY_OK)
            printf("square(%d) = %d\n", x, y);
        else
            fprintf(stderr, "square: %s (%s)\n", relay_strerror(rc), relay_last_error());
    }
    relay_finalize();
    return rc == RELAY_OK ? 0 : 1;
}
