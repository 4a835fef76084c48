/* Function registry: name hash → (name, function), under its own lock so it
 * can be used before relay_init and from any thread. */
#include "registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"

typedef struct fn_entry {
    char *name;
    relay_fn_t fn;
} fn_entry_t;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static relay__map_t reg_map;

uint64_t relay__fn_hash(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h ? h : 1;
}

int relay_register(const char *name, relay_fn_t fn)
{
    if (!name || !fn)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_register: NULL %s", name ? "fn" : "name");
    size_t len = strlen(name);
    if (len == 0 || len >= RELAY_MAX_NAME)
        return relay__error(RELAY_ERR_INVALID_ARG,
                            "relay_register: name must have 1..%d characters, has %zu",
                            RELAY_MAX_NAME - 1, len);
    uint64_t h = relay__fn_hash(name);
    int rc = RELAY_OK;
    pthread_mutex_lock(&reg_lock);
    fn_entry_t *e = relay__map_get(&reg_map, h);
    if (e) {
        if (strcmp(e->name, name) != 0)
            rc = relay__error(RELAY_ERR_EXISTS, "relay_register: '%s' has the same hash as '%s'",
                              name, e->name);
        else if (e->fn != fn)
            rc = relay__error(RELAY_ERR_EXISTS,
                              "relay_register: '%s' is already registered to another function",
                              name);
    } else {
        e = malloc(sizeof *e);
        if (e) e->name = strdup(name);
        if (!e || !e->name || relay__map_put(&reg_map, h, e) != 0) {
            if (e) free(e->name);
            free(e);
            rc = relay__error(RELAY_ERR_NO_MEMORY, "relay_register: out of memory");
        } else {
            e->fn = fn;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

relay_fn_t relay__fn_lookup(uint64_t hash, const char **name_p)
{
    pthread_mutex_lock(&reg_lock);
    fn_entry_t *e = relay__map_get(&reg_map, hash);
    relay_fn_t fn = e ? e->fn : NULL;
    if (e && name_p) *name_p = e->name;
    pthread_mutex_unlock(&reg_lock);
    return fn;
}
