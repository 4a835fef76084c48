/* Remote functions by name. Registration is process-wide and independent
 * of relay_init, so programs may register before or after it. */
#ifndef RELAY_REGISTRY_H
#define RELAY_REGISTRY_H

#include <stdint.h>

#include "relay.h"

/* 64-bit hash of a name (never 0): messages carry it instead of looking
 * names up as strings on the hot path. */
uint64_t relay__fn_hash(const char *name);
/* The function registered under hash, or NULL. [OUT] name_p (may be NULL):
 * its name, valid for the life of the process. */
relay_fn_t relay__fn_lookup(uint64_t hash, const char **name_p);

#endif
