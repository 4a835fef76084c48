/* Record names and routes, the checks every decoder shares, and the parts
 * several records carry: object descriptors and task demands. The records
 * themselves: records_task.c, records_object.c, records_control.c. */
#include "records.h"

#include "log.h"
#include "records_impl.h"
#include "runtime.h"

/* ---------------------------------------------------------------------- */
/* Types                                                                    */
/* ---------------------------------------------------------------------- */

enum { TO0, FROM0, PEER };

typedef struct type_info {
    const char *name;
    int route;
} type_info_t;

#define RELAY__RECORD_ROW(n, r) [RELAY__R_##n] = {#n, r},
static const type_info_t types[RELAY__R_END] = {[RELAY__R_NONE] = {"unknown", -1},
                                                RELAY__RECORD_MAP(RELAY__RECORD_ROW)};
#undef RELAY__RECORD_ROW

const char *relay__record_name(unsigned type)
{
    return type < RELAY__R_END ? types[type].name : types[RELAY__R_NONE].name;
}

int relay__record_route_ok(unsigned type, int src, int dest)
{
    if (type == RELAY__R_NONE || type >= RELAY__R_END) return 0;
    switch (types[type].route) {
    case TO0:
        return dest == 0;
    case FROM0:
        return src == 0;
    default:
        return 1;
    }
}

void relay__rec_malformed(unsigned type, int src, const relay__rbuf_t *r)
{
    relay__log(RELAY__LOG_ERROR, "malformed %s record from rank %d: %s", relay__record_name(type),
               src, r->why ? r->why : "truncated");
}

int relay__rec_empty_decode(relay__rbuf_t *r)
{
    return relay__rec_end(r);
}

/* ---------------------------------------------------------------------- */
/* Object descriptors                                                       */
/* ---------------------------------------------------------------------- */

/* Every field but the array (read only when has_array): descriptors are
 * filled several times per task, and the array is most of their bytes. */
static void desc_set(relay__desc_t *d, int status, uint32_t nrefs, const void *refs,
                     const relay__array_t *array, int is_inline, uint64_t size)
{
    d->status = status;
    d->errmsg = NULL;
    d->nrefs = nrefs;
    d->refs = refs;
    d->has_array = array != NULL;
    if (array) d->array = *array;
    d->is_inline = is_inline;
    d->size = size;
    d->bytes = NULL;
    d->holder = -1;
}

void relay__desc_of_obj(relay__desc_t *d_p, const struct relay_object *o)
{
    if (o->status != RELAY_OK) {
        desc_set(d_p, o->status, 0, NULL, NULL, 1, 0);
        d_p->errmsg = o->errmsg ? o->errmsg : "";
        return;
    }
    desc_set(d_p, RELAY_OK, o->nrefs, o->refs, o->array, 1, o->size);
    d_p->bytes = o->data;
}

void relay__desc_of_remote(relay__desc_t *d_p, uint64_t size, const uint64_t *refs, uint32_t nrefs,
                           const relay__array_t *array, int holder)
{
    desc_set(d_p, RELAY_OK, nrefs, refs, array, 0, size);
    d_p->holder = holder;
}

void relay__desc_encode(relay__wbuf_t *w, const relay__desc_t *d)
{
    relay__put_u32(w, (uint32_t)d->status);
    if (d->status != RELAY_OK) {
        relay__put_str(w, d->errmsg);
        return;
    }
    relay__put_u32(w, d->nrefs);
    relay__put_bytes(w, d->refs, (size_t)d->nrefs * 8);
    relay__put_u8(w, d->has_array ? d->array.ndims : 0);
    if (d->has_array) {
        relay__put_u8(w, d->array.dtype);
        relay__put_bytes(w, d->array.dims, (size_t)d->array.ndims * 8);
    }
    relay__put_u8(w, (uint8_t)d->is_inline);
    if (d->is_inline) {
        relay__put_blob(w, d->bytes, d->size);
    } else {
        relay__put_u64(w, d->size);
        relay__put_u32(w, (uint32_t)d->holder);
    }
}

int relay__desc_read(relay__rbuf_t *r, relay__desc_t *d_p)
{
    int status = (int)relay__get_u32(r);
    desc_set(d_p, status, 0, NULL, NULL, 1, 0);
    if (status != RELAY_OK) {
        d_p->errmsg = relay__get_str(r);
        return r->err ? -1 : 0;
    }
    d_p->nrefs = relay__get_u32(r);
    d_p->refs = relay__get_bytes(r, (size_t)d_p->nrefs * 8);
    uint8_t ndims = relay__get_u8(r);
    if (ndims) {
        if (ndims > RELAY_MAX_DIMS) return relay__rbuf_fail(r, "an array has too many dimensions");
        d_p->has_array = 1;
        d_p->array.ndims = ndims;
        d_p->array.dtype = relay__get_u8(r);
        const void *dims = relay__get_bytes(r, (size_t)ndims * 8);
        memset(d_p->array.dims, 0, sizeof d_p->array.dims);
        if (dims) memcpy(d_p->array.dims, dims, (size_t)ndims * 8);
    }
    d_p->is_inline = relay__get_u8(r);
    if (d_p->is_inline) {
        size_t n;
        d_p->bytes = relay__get_blob(r, &n);
        d_p->size = n;
    } else {
        d_p->size = relay__get_u64(r);
        d_p->holder = (int)relay__get_u32(r);
    }
    return r->err ? -1 : 0;
}

static int array_decode(relay__rbuf_t *r, uint8_t ndims, relay__array_t *a)
{
    if (ndims > RELAY_MAX_DIMS) return relay__rbuf_fail(r, "an array has too many dimensions");
    a->ndims = ndims;
    a->dtype = relay__get_u8(r);
    const void *dims = relay__get_bytes(r, (size_t)ndims * 8);
    if (!dims) return -1;
    memset(a->dims, 0, sizeof a->dims);
    memcpy(a->dims, dims, (size_t)ndims * 8);
    if (!relay_dtype_size((relay_dtype_t)a->dtype))
        return relay__rbuf_fail(r, "an array has an unknown element type");
    return 0;
}

int relay__desc_decode(relay__rbuf_t *r, relay__desc_t *d_p)
{
    int status = relay__rec_get_status(r, 0, "an object has an unknown status");
    desc_set(d_p, status, 0, NULL, NULL, 1, 0);
    if (status != RELAY_OK) {
        d_p->errmsg = relay__rec_get_str(r, 0, UINT32_MAX, "bad error message");
        return r->err ? -1 : 0;
    }
    uint32_t nrefs = relay__get_u32(r);
    relay__ids_t refs;
    if (relay__rec_get_ids(r, nrefs, &refs, "an object contains an invalid ref") != 0) return -1;
    d_p->nrefs = nrefs;
    d_p->refs = refs.v;
    uint8_t ndims = relay__get_u8(r);
    if (ndims && array_decode(r, ndims, &d_p->array) != 0) return -1;
    d_p->has_array = ndims != 0;
    d_p->is_inline = relay__rec_get_bool(r, "an object's inline flag is not 0 or 1");
    if (d_p->is_inline) {
        size_t n;
        d_p->bytes = relay__get_blob(r, &n);
        d_p->size = n;
    } else {
        d_p->size = relay__get_u64(r);
        uint32_t holder = relay__get_u32(r);
        if (!r->err && holder >= (uint32_t)relay__g.size)
            return relay__rbuf_fail(r, "an object's holder is not a rank of the job");
        d_p->holder = (int)holder;
    }
    if (r->err) return -1;
    if (d_p->has_array) {
        int overflow;
        int64_t bytes =
            relay__array_bytes(d_p->array.dtype, d_p->array.ndims, d_p->array.dims, &overflow);
        if (bytes < 0 || (uint64_t)bytes != d_p->size)
            return relay__rbuf_fail(r, "an array's shape does not match its size");
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Demands                                                                  */
/* ---------------------------------------------------------------------- */

void relay__demand_encode(relay__wbuf_t *w, const relay__demand_t *d)
{
    relay__put_u64(w, (uint64_t)d->cpu);
    relay__put_u64(w, (uint64_t)d->gpu);
    relay__put_u32(w, d->ncustom);
    for (uint32_t i = 0; i < d->ncustom; i++) {
        relay__put_u32(w, d->custom[i].idx);
        relay__put_u64(w, (uint64_t)d->custom[i].units);
    }
}

static int units_ok(int64_t u)
{
    return u >= 0 && u <= RELAY__UNITS_MAX;
}

int relay__demand_decode(relay__rbuf_t *r, relay__demand_t *d_p)
{
    d_p->cpu = (int64_t)relay__get_u64(r);
    d_p->gpu = (int64_t)relay__get_u64(r);
    d_p->ncustom = relay__get_u32(r);
    if (r->err) return -1;
    if (!units_ok(d_p->cpu) || !units_ok(d_p->gpu))
        return relay__rbuf_fail(r, "a demand's CPUs or GPUs are out of range");
    if (d_p->gpu > RELAY__UNIT && d_p->gpu % RELAY__UNIT)
        return relay__rbuf_fail(r, "a demand asks for a fraction of several GPUs");
    if (d_p->ncustom > RELAY_MAX_RESOURCES)
        return relay__rbuf_fail(r, "a demand names too many resources");
    for (uint32_t i = 0; i < d_p->ncustom; i++) {
        d_p->custom[i].idx = relay__get_u32(r);
        d_p->custom[i].units = (int64_t)relay__get_u64(r);
        if (r->err) return -1;
        if (d_p->custom[i].units <= 0 || !units_ok(d_p->custom[i].units) ||
            (i && d_p->custom[i].idx <= d_p->custom[i - 1].idx))
            return relay__rbuf_fail(r, "a demand's resources are out of range or order");
    }
    return 0;
}
