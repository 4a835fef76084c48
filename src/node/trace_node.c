/* Trace points that read a task's context (trace_node.h). */
#include "trace_node.h"

#include "records.h"
#include "worker.h"
#include "worker_state.h"

/* The status rank 0 will record for it (relay__post_done's reading). */
static int ran_status(const relay_ctx_t *c, int rc)
{
    if (relay__worker_cancel_bits(c) & RELAY__CANCEL_TASK) return RELAY_ERR_CANCELLED;
    return c->failed || rc != 0 ? RELAY_ERR_TASK_FAILED : RELAY_OK;
}

/* The objects it consumed: its ref arguments, a few at a time. */
static void trace_args(const relay_ctx_t *c)
{
    uint64_t ids[16];
    size_t n = 0;
    for (uint32_t i = 0; i < c->nargs; i++) {
        if (c->args[i].kind != RELAY_ARG_REF) continue;
        ids[n++] = c->args[i].ref;
        if (n == sizeof ids / sizeof *ids) {
            relay__trace_args_slow(c->task_id, ids, n);
            n = 0;
        }
    }
    if (n) relay__trace_args_slow(c->task_id, ids, n);
}

void relay__trace_ran_slow(const relay_ctx_t *c, const char *fn, const char *method, double t0,
                           int rc)
{
    int status = ran_status(c, rc);
    if (c->kind == RELAY__KIND_TASK)
        relay__trace_task_slow(c->task_id, fn, c->name, t0, t0 + c->seconds, status);
    else
        relay__trace_actor_slow(c->task_id, c->actor_id, fn, method ? method : "__init__", t0,
                                t0 + c->seconds, status);
    trace_args(c);
}
