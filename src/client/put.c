/* relay_put, relay_put_object, relay_put_array and relay_object_save:
 * new objects, inline at rank 0 when small, kept in this rank's store (or
 * written straight to its spill file) when large. */
#include "client.h"

#include "comm.h"
#include "log.h"
#include "runtime.h"
#include "spill.h"
#include "store.h"

/* ---------------------------------------------------------------------- */
/* put                                                                      */
/* ---------------------------------------------------------------------- */

/* Register obj with the directory: inline bytes, or this rank as holder of
 * a large object kept in the store. Lock held. */
void relay__publish(struct relay_object *obj)
{
    relay__rec_put_t m;
    m.id = obj->id;
    if (obj->size <= relay__g.cfg.inline_max) {
        relay__desc_of_obj(&m.desc, obj);
    } else {
        relay__store_insert(obj);
        relay__desc_of_remote(&m.desc, obj->size, obj->refs, obj->nrefs, obj->array, relay__g.rank);
    }
    size_t start;
    relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_PUT, &start);
    relay__rec_put_encode(w, &m);
    relay__msg_end(0, w, start);
}

/* A put larger than the store's budget goes from data straight to the
 * spill file, never copied in memory. RELAY_OK when it went there. */
static int put_direct(uint64_t id, const void *data, size_t size, const relay_ref_t *refs,
                      uint32_t nrefs, const relay__array_t *array)
{
    if (size <= relay__g.cfg.inline_max || size <= relay__g.cfg.store_budget)
        return RELAY_ERR_INVALID_ARG;
    struct relay_object meta;
    memset(&meta, 0, sizeof meta);
    meta.id = id;
    meta.size = size;
    meta.nrefs = nrefs;
    meta.refs = (uint64_t *)refs;
    meta.array = (relay__array_t *)array;
    if (relay__store_insert_direct(&meta, data) != RELAY_OK) {
        relay__log(RELAY__LOG_WARN, "object %#llx stays in memory: %s", (unsigned long long)id,
                   relay_last_error());
        return RELAY_ERR_IO;
    }
    return RELAY_OK;
}

static int put_impl(const char *call, const void *data, size_t size, const relay_ref_t *refs,
                    size_t nrefs, const relay__array_t *array, relay_ref_t *ref_p)
{
    int rc = relay__check_on(call);
    if (rc) return rc;
    if (!ref_p) return relay__error(RELAY_ERR_INVALID_ARG, "%s: ref_p is NULL", call);
    if (!data && size) return relay__error(RELAY_ERR_INVALID_ARG, "%s: data is NULL", call);
    if (nrefs > UINT32_MAX)
        return relay__error(RELAY_ERR_OUT_OF_RANGE, "%s: too many refs (%zu)", call, nrefs);
    if (!refs && nrefs) return relay__error(RELAY_ERR_INVALID_ARG, "%s: refs is NULL", call);
    if ((rc = relay__check_refs(call, refs, nrefs))) return rc;
    uint64_t id = relay__id_make(relay__g.rank, relay__new_seq(), 0);
    struct relay_object *obj = NULL;
    int direct = put_direct(id, data, size, refs, (uint32_t)nrefs, array) == RELAY_OK;
    if (!direct) {
        obj = relay__obj_copy(id, data, size, (const uint64_t *)refs, (uint32_t)nrefs);
        if (!obj || relay__obj_set_array(obj, array) != 0) {
            relay__obj_unref(obj);
            return relay__error(RELAY_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes", call, size);
        }
    }
    pthread_mutex_lock(&relay__g.lock);
    if (relay__g.shutting_down) {
        rc = relay__error(RELAY_ERR_SHUTDOWN, "%s: relay is shutting down", call);
    } else if (direct) {
        relay__rec_put_t m;
        m.id = id;
        relay__desc_of_remote(&m.desc, size, (const uint64_t *)refs, (uint32_t)nrefs, array,
                              relay__g.rank);
        size_t start;
        relay__wbuf_t *w = relay__msg_begin(0, RELAY__R_PUT, &start);
        relay__rec_put_encode(w, &m);
        relay__msg_end(0, w, start);
        relay__hold_add(id);
    } else {
        relay__publish(obj);
        relay__hold_add(id);
    }
    pthread_mutex_unlock(&relay__g.lock);
    relay__obj_unref(obj);
    if (rc == RELAY_OK) ref_p->id = id;
    return rc;
}

int relay_put_object(const void *data, size_t size, const relay_ref_t *refs, size_t nrefs,
                     relay_ref_t *ref_p)
{
    return put_impl(nrefs ? "relay_put_object" : "relay_put", data, size, refs, nrefs, NULL, ref_p);
}

int relay_put_array(const void *data, relay_dtype_t dtype, int ndims, const uint64_t *dims,
                    relay_ref_t *ref_p)
{
    relay__array_t a;
    size_t size = 0;
    int rc = relay__check_on("relay_put_array");
    if (rc || (rc = relay__array_check("relay_put_array", dtype, ndims, dims, &a, &size)))
        return rc;
    return put_impl("relay_put_array", data, size, NULL, 0, &a, ref_p);
}

int relay_object_save(relay_object_t obj, const char *path, const char *dataset)
{
    int rc = relay__check_on("relay_object_save");
    if (rc) return rc;
    if (!obj || !path || !dataset)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_object_save: NULL %s",
                            !obj    ? "object"
                            : !path ? "path"
                                    : "dataset");
    if (obj->status != RELAY_OK)
        return relay__error(RELAY_ERR_INVALID_ARG,
                            "relay_object_save: an error object has no data to save (%s)",
                            obj->errmsg ? obj->errmsg : "");
    return relay__spill_save(obj, path, dataset);
}

int relay_put(const void *data, size_t size, relay_ref_t *ref_p)
{
    return relay_put_object(data, size, NULL, 0, ref_p);
}
