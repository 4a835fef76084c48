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

#endif
