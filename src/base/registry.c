/* Registry: name hash → (name, remote function or actor class), under its
 * own lock so it can be used before relay_init and from any thread. */
#include "registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"

/* A name is a remote function or an actor class. */
typedef struct fn_entry {
    char *name;
    relay_fn_t fn;
    relay__class_t *cls;
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

static int check_name(const char *call, const char *what, const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (!name) return relay__error(RELAY_ERR_INVALID_ARG, "%s: %s is NULL", call, what);
    if (len == 0 || len >= RELAY_MAX_NAME)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s: %s must have 1..%d characters, has %zu",
                            call, what, RELAY_MAX_NAME - 1, len);
    return RELAY_OK;
}

/* Register fn or cls under name (one of them NULL); same_as decides
 * whether an existing registration is the same one again. */
static int add_entry(const char *call, const char *name, relay_fn_t fn, relay__class_t *cls,
                     int (*same_as)(const fn_entry_t *, relay_fn_t, const relay__class_t *))
{
    uint64_t h = relay__fn_hash(name);
    int rc = RELAY_OK;
    pthread_mutex_lock(&reg_lock);
    fn_entry_t *e = relay__map_get(&reg_map, h);
    if (e) {
        if (strcmp(e->name, name) != 0)
            rc = relay__error(RELAY_ERR_EXISTS, "%s: '%s' has the same hash as '%s'", call, name,
                              e->name);
        else if (!same_as(e, fn, cls))
            rc = relay__error(RELAY_ERR_EXISTS, "%s: '%s' is already registered as another %s",
                              call, name, e->fn ? "function" : "actor class");
        else
            rc = 1; /* the same again: nothing to add */
    } else {
        e = malloc(sizeof *e);
        if (e) e->name = strdup(name);
        if (!e || !e->name || relay__map_put(&reg_map, h, e) != 0) {
            if (e) free(e->name);
            free(e);
            rc = relay__error(RELAY_ERR_NO_MEMORY, "%s: out of memory", call);
        } else {
            e->fn = fn;
            e->cls = cls;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

static int same_fn(const fn_entry_t *e, relay_fn_t fn, const relay__class_t *cls)
{
    (void)cls;
    return e->fn == fn;
}

int relay_register(const char *name, relay_fn_t fn)
{
    int rc = check_name("relay_register", "name", name);
    if (rc) return rc;
    if (!fn) return relay__error(RELAY_ERR_INVALID_ARG, "relay_register: NULL fn");
    rc = add_entry("relay_register", name, fn, NULL, same_fn);
    return rc > 0 ? RELAY_OK : rc;
}

/* ---------------------------------------------------------------------- */
/* Actor classes                                                            */
/* ---------------------------------------------------------------------- */

static void class_free(relay__class_t *c)
{
    if (!c) return;
    for (size_t i = 0; c->methods && i < c->nmethods; i++)
        free(c->methods[i].name);
    free(c->methods);
    free(c->name);
    free(c);
}

static int check_class(const char *name, const relay_actor_class_t *cls)
{
    const char *call = "relay_register_actor";
    int rc = check_name(call, "class name", name);
    if (rc) return rc;
    if (!cls) return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): cls is NULL", call, name);
    if (cls->num_methods < 1 || cls->num_methods > RELAY_MAX_METHODS || !cls->methods)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): %zu methods, want 1..%d", call, name,
                            cls->num_methods, RELAY_MAX_METHODS);
    if (cls->init_num_args < RELAY_ANY_ARGS || cls->init_num_args > RELAY_MAX_ARGS)
        return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): init_num_args %d", call, name,
                            cls->init_num_args);
    for (size_t i = 0; i < cls->num_methods; i++) {
        const relay_method_t *m = &cls->methods[i];
        if ((rc = check_name(call, "a method name", m->name))) return rc;
        if (!m->fn)
            return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): method '%s' has no function", call,
                                name, m->name);
        if (m->num_args < RELAY_ANY_ARGS || m->num_args > RELAY_MAX_ARGS)
            return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): method '%s': num_args %d", call,
                                name, m->name, m->num_args);
        for (size_t j = 0; j < i; j++)
            if (relay__fn_hash(cls->methods[j].name) == relay__fn_hash(m->name))
                return relay__error(RELAY_ERR_INVALID_ARG, "%s(%s): method '%s' is there twice",
                                    call, name, m->name);
    }
    return RELAY_OK;
}

static relay__class_t *class_copy(const char *name, const relay_actor_class_t *cls)
{
    relay__class_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->name = strdup(name);
    c->methods = calloc(cls->num_methods, sizeof *c->methods);
    if (!c->name || !c->methods) {
        class_free(c);
        return NULL;
    }
    c->hash = relay__fn_hash(name);
    c->init = cls->init;
    c->init_num_args = cls->init_num_args;
    c->fini = cls->fini;
    c->nmethods = cls->num_methods;
    for (size_t i = 0; i < cls->num_methods; i++) {
        relay__method_t *m = &c->methods[i];
        if (!(m->name = strdup(cls->methods[i].name))) {
            class_free(c);
            return NULL;
        }
        m->hash = relay__fn_hash(m->name);
        m->fn = cls->methods[i].fn;
        m->num_args = cls->methods[i].num_args;
    }
    return c;
}

static int same_class(const fn_entry_t *e, relay_fn_t fn, const relay__class_t *c)
{
    (void)fn;
    const relay__class_t *o = e->cls;
    if (!o || o->init != c->init || o->init_num_args != c->init_num_args || o->fini != c->fini ||
        o->nmethods != c->nmethods)
        return 0;
    for (size_t i = 0; i < c->nmethods; i++)
        if (strcmp(o->methods[i].name, c->methods[i].name) ||
            o->methods[i].fn != c->methods[i].fn ||
            o->methods[i].num_args != c->methods[i].num_args)
            return 0;
    return 1;
}

int relay_register_actor(const char *class_name, const relay_actor_class_t *cls)
{
    int rc = check_class(class_name, cls);
    if (rc) return rc;
    relay__class_t *c = class_copy(class_name, cls);
    if (!c) return relay__error(RELAY_ERR_NO_MEMORY, "relay_register_actor: out of memory");
    rc = add_entry("relay_register_actor", class_name, NULL, c, same_class);
    if (rc) class_free(c); /* an error, or registered already */
    return rc > 0 ? RELAY_OK : rc;
}

const relay__class_t *relay__class_lookup(uint64_t hash)
{
    pthread_mutex_lock(&reg_lock);
    fn_entry_t *e = relay__map_get(&reg_map, hash);
    const relay__class_t *c = e ? e->cls : NULL;
    pthread_mutex_unlock(&reg_lock);
    return c;
}

const relay__method_t *relay__class_method(const relay__class_t *c, uint64_t method_hash)
{
    for (size_t i = 0; c && i < c->nmethods; i++)
        if (c->methods[i].hash == method_hash) return &c->methods[i];
    return NULL;
}

relay_fn_t relay__fn_lookup(uint64_t hash, const char **name_p)
{
    pthread_mutex_lock(&reg_lock);
    fn_entry_t *e = relay__map_get(&reg_map, hash);
    relay_fn_t fn = e ? e->fn : NULL;
    if (fn && name_p) *name_p = e->name;
    pthread_mutex_unlock(&reg_lock);
    return fn;
}
