/* Effective configuration: defaults, then relay_config_t fields, then
 * RELAY_* environment variables. */
#ifndef RELAY_CONFIG_H
#define RELAY_CONFIG_H

#include "relay.h"
#include "resources.h"

/* Fill out from defaults, in (may be NULL) and the environment; the custom
 * resources and GPU count go to offer (num_gpus -1: discover). Returns
 * RELAY_ERR_CONFIG naming the field or variable when a value is invalid. */
int relay__config_resolve(const relay_config_t *in, relay_config_t *out, relay__offer_t *offer);

/* RELAY_NODES: *per_rank_p 0 ("shared", the default: the ranks that share
 * memory form a node) or 1 ("rank": every rank is a node of its own, so
 * one machine runs as several nodes: no doorbells between its ranks, which
 * then find each other's messages by polling, as across real nodes). The
 * machine's CPUs, memory and GPUs are still shared out among all its ranks
 * either way. RELAY_ERR_CONFIG for any other value. */
int relay__config_nodes(int *per_rank_p);

#endif
