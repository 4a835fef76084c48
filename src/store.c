#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"
#include "object.h"
#include "runtime.h"

typedef struct relay__store {
    relay__map_t objs;
    uint64_t bytes;
} relay__store_t;

int relay__store_init(void)
{
    relay__store_t *s = calloc(1, sizeof *s);
    if (!s) return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    relay__map_init(&s->objs);
    relay__g.store = s;
    return RELAY_OK;
}

void relay__store_destroy(void)
{
    relay__store_t *s = relay__g.store;
    if (!s) return;
    for (size_t i = 0; i < s->objs.cap; i++)
        if (s->objs.slots[i].key) relay__obj_unref(s->objs.slots[i].value);
    relay__map_destroy(&s->objs);
    free(s);
    relay__g.store = NULL;
}

void relay__store_insert(struct relay_object *o)
{
    relay__store_t *s = relay__g.store;
    struct relay_object *old = relay__map_get(&s->objs, o->id);
    if (old == o) return;
    if (relay__map_put(&s->objs, o->id, relay__obj_ref(o)) != 0) {
        relay__log(RELAY__LOG_ERROR, "out of memory indexing object %#llx",
                   (unsigned long long)o->id);
        abort();
    }
    s->bytes += o->size;
    if (old) {
        s->bytes -= old->size;
        relay__obj_unref(old);
    }
}

struct relay_object *relay__store_lookup(uint64_t id)
{
    struct relay_object *o = relay__map_get(&relay__g.store->objs, id);
    return o ? relay__obj_ref(o) : NULL;
}

void relay__store_stats(uint64_t *objects_p, uint64_t *bytes_p)
{
    *objects_p = relay__g.store ? relay__g.store->objs.count : 0;
    *bytes_p = relay__g.store ? relay__g.store->bytes : 0;
}

void relay__store_on_free(int src, relay__rbuf_t *r)
{
    (void)src;
    relay__store_t *s = relay__g.store;
    uint32_t n = relay__get_u32(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        struct relay_object *o = relay__map_remove(&s->objs, relay__get_u64(r));
        if (!o) continue;
        s->bytes -= o->size;
        relay__obj_unref(o); /* views and transfers in flight keep their own references */
    }
}
