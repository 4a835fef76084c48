/* Rank 0's scheduler: tasks wait until their ref arguments exist, then go
 * to a worker rank whose free resources fit what they ask for, preferring
 * the rank that already holds their largest argument. CPUs a blocked task
 * gives back are offered to others; its GPUs and custom resources are not.
 * Completions fill the directory. Policy (placement) is kept apart from
 * the records it reads and writes. Lock held for every call. */
#ifndef RELAY_SCHEDULER_H
#define RELAY_SCHEDULER_H

#include <stdint.h>

#include "wire.h"

struct relay__dentry;
struct relay__stask;

/* Accounts for every rank from the cluster table. */
int relay__sched_init(void);
void relay__sched_destroy(void);
/* A dependency of t became ready. */
void relay__sched_dep_ready(struct relay__stask *t, struct relay__dentry *e);
/* Rank 0's finalize: tell every rank to stop; EXIT follows their acks. */
void relay__sched_shutdown(void);
/* Rank 0's finalize waited waited_s seconds for the acks in vain: every
 * task still running on a rank that has not acknowledged is logged at
 * error level and named in buf (n bytes), and EXIT goes to every rank.
 * Returns how many tasks were named (0: the acks were all in after all). */
int relay__sched_abandon(double waited_s, char *buf, size_t n);
/* The ranks that have not acknowledged the shutdown, as "2" or "1, 3"
 * in buf (n bytes; "" when none): said even when no task of theirs is
 * known to run (an actor's destructor may). Lock held. */
void relay__sched_unacked(char *buf, size_t n);
uint64_t relay__sched_pending(void);
/* Work put off to the top of the runtime, where no handler is under way
 * (a deadlock check, at most so often): called after each message and at
 * every turn of the runtime thread. Lock held. */
void relay__sched_tick(void);

void relay__sched_on_submit(int src, relay__rbuf_t *r);
void relay__sched_on_done(int src, relay__rbuf_t *r);
void relay__sched_on_block(int src, relay__rbuf_t *r);
void relay__sched_on_unblock(int src, relay__rbuf_t *r);
void relay__sched_on_sync(int src, relay__rbuf_t *r);
/* relay_cancel's request (ABORT), answered by a REPLY. */
void relay__sched_on_abort(int src, relay__rbuf_t *r);
void relay__sched_on_shutdown_ack(int src, relay__rbuf_t *r);
/* rank was lost (the transport sends it nothing any more): nothing is
 * placed there again, its tasks run again or fail (RELAY_ERR_RANK_LOST),
 * its actors die, the objects only it held are lost, and it counts as
 * having acknowledged the shutdown. */
void relay__sched_rank_lost(int rank);
/* Lineage. Whether the task that made object id is kept to make it again. */
int relay__sched_can_remake(uint64_t id);
/* Tasks kept to make their lost objects again, and their bytes (rank 0;
 * 0 elsewhere). At most RELAY__LINEAGE_MAX_BYTES are kept: past it a
 * finished task is not, and its objects, if lost, cannot be made again. */
#define RELAY__LINEAGE_MAX_BYTES ((uint64_t)256 << 20)
void relay__sched_lineage_stats(uint64_t *tasks_p, uint64_t *bytes_p);
/* Why an object cannot be made again (for its error). */
const char *relay__sched_lineage_why(uint64_t id);
/* The ready remote objects ids[n], lost with rank, wait again for their
 * kept tasks, which go back in the table. */
void relay__sched_remake(const uint64_t *ids, size_t n, int rank, const char *lost);
/* A remote object made by a task left the directory: the task is kept no
 * longer once none of its objects live. */
void relay__sched_output_freed(uint64_t id);
/* What is free now on rank (-1: every rank not lost), by rank 0's books,
 * in units: [0] CPUs, [1] GPUs, [2 + i] custom resource i of the cluster
 * table (2 + its ncustom entries, overwritten). RELAY_ERR_RANK_LOST for a
 * lost rank, else RELAY_OK. Rank 0, lock held. */
int relay__sched_available(int rank, int64_t *units);
/* "rank 2 (host h) was lost[: its fate]" into buf. */
void relay__sched_lost_text(int rank, char *buf, size_t n);

#endif
