/* Large arguments held elsewhere, brought here once per object for every
 * task of this rank that takes it, from the moment a task is queued (see
 * arg_fetch.c). Lock held for every call. */
#ifndef RELAY_ARG_FETCH_H
#define RELAY_ARG_FETCH_H

#include "relay.h"

/* Start bringing c's arguments that are elsewhere (or joining transfers
 * of them already under way). Once per task; later calls do nothing. */
void relay__argf_start(relay_ctx_t *c);
/* Wait until c's arguments are all here, starting what is not started;
 * they are then c's own (args[i].obj complete, holder -1). RELAY_OK, or
 * the first failure's status with c failed naming the argument. Releases
 * the lock while it waits. */
int relay__argf_wait(relay_ctx_t *c);
/* c goes without running: leave the transfers it joined. */
void relay__argf_drop(relay_ctx_t *c);
/* Shutdown: forget every transfer (a task still holding one frees it). */
void relay__argf_destroy(void);

#endif
