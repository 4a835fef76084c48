/* Causal ordering at rank 0. A rank may learn a ref from another rank
 * through the program's own MPI messages, and name it (get, retain, task
 * argument, contained ref) before the maker's record creating it reached
 * rank 0. Such a record is held back, rank 0 asks the maker to flush
 * (PING: the maker's PONG follows every record it sent before), and the
 * record is handled once the PONG is in: then an id still unknown was
 * really never created. Records from a rank stay in order: once one is
 * held back, the ones after it wait behind it. */
#ifndef RELAY_HOLDBACK_H
#define RELAY_HOLDBACK_H

#include <stdint.h>

#include "wire.h"

int relay__holdback_init(void);
void relay__holdback_destroy(void);

/* Called for each record bound for the directory or scheduler, before its
 * handler. Returns 1 when the record was held back (the caller does not
 * handle it), 0 when the caller handles it now. Lock held. */
int relay__holdback_intercept(int src, uint8_t type, const relay__rbuf_t *r);
/* A new incoming message starts (orders records against PONGs). */
void relay__holdback_next_epoch(void);

void relay__holdback_on_pong(int src, relay__rbuf_t *r);
/* rank was lost: its held records are dropped, and records waiting to
 * hear from it go on. */
void relay__holdback_rank_lost(int rank);

#endif
