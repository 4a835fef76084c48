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

/* An actor class as registered (copied; lives as long as the process). */
typedef struct relay__method {
    char *name;
    uint64_t hash;
    relay_method_fn fn;
    int num_args;
} relay__method_t;

typedef struct relay__class {
    char *name;
    uint64_t hash;
    relay_actor_init_fn init;
    int init_num_args;
    relay_actor_fini_fn fini;
    size_t nmethods;
    relay__method_t *methods;
} relay__class_t;

/* The class registered under hash, or NULL; one of its methods, or NULL. */
const relay__class_t *relay__class_lookup(uint64_t hash);
const relay__method_t *relay__class_method(const relay__class_t *c, uint64_t method_hash);

#endif
