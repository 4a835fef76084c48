/* The trace points of work that ran on this rank (trace.h records them):
 * one call after a task, constructor or method returns. */
#ifndef RELAY_TRACE_NODE_H
#define RELAY_TRACE_NODE_H

#include "relay.h"
#include "trace.h"

/* c ran from t0 (relay__now()) to c->seconds later and returned rc: its
 * run, its status as rank 0 will hear it, and the objects it consumed.
 * fn: the function or class name, method: the method (NULL for a task,
 * "__init__" for a constructor); both live as long as the process. */
void relay__trace_ran_slow(const relay_ctx_t *c, const char *fn, const char *method, double t0,
                           int rc);
static inline void relay__trace_ran(const relay_ctx_t *c, const char *fn, const char *method,
                                    double t0, int rc)
{
    if (relay__trace_active()) relay__trace_ran_slow(c, fn, method, t0, rc);
}

#endif
