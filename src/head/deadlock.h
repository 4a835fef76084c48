/* Rank 0: finds tasks that can never run because every rank that could run
 * them has the resources (or worker threads) they need held by tasks that
 * are blocked waiting for them, directly or through other tasks, and fails
 * them with RELAY_ERR_DEADLOCK so the blocked gets return instead of
 * hanging. A wait with a timeout counts as blocked until it expires. Lock
 * held. */
#ifndef RELAY_DEADLOCK_H
#define RELAY_DEADLOCK_H

/* Look once, and fail (or cancel) one stuck task at a time, newest first,
 * until none is left: failing one may free what the others wait for. */
void relay__deadlock_check(void);

#endif
