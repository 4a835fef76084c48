/*
 * C side of relay's Fortran binding (module relay, relay.f90).
 *
 * Only what Fortran cannot reach through ISO_C_BINDING lives here: the
 * variadic relay_ctx_fail, relay_config_t's MPI_Comm (built from the Fortran
 * handle with MPI_Comm_f2c), and the element type, shape and address of any
 * Fortran variable, read from its C descriptor (TS 29113 assumed-rank
 * arguments), so that one procedure serves every type and rank.
 *
 * Fortran arrays are column-major and relay's arrays C-ordered: a Fortran
 * array of shape (n1, ..., nk) is the C array of dims (nk, ..., n1), the
 * same bytes. complex(4)/complex(8) are float32/float64 arrays with a last C
 * dimension of 2 (real, imaginary).
 *
 * Errors found here (a non-contiguous array, a type relay has no dtype for)
 * cannot go into relay's own last-error slot, so they are kept in a slot of
 * this file; relay_f_last_error gives it until a relay call fails again (the
 * module calls relay_f_error_clear on every failure it did not make here).
 */
#include <ISO_Fortran_binding.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "relay.h"

#define RELAY_F_API __attribute__((visibility("default")))

/* The Fortran module's mirror of relay_config_t (type relay_config_c). */
typedef struct relay_f_config {
    uint64_t field_mask;
    int comm; /* the Fortran handle (MPI_Fint) */
    int num_cpus;
    int driver_workers;
    int log_level;
    int64_t inline_max;
    int poll_max_us;
    int num_gpus;
    int64_t chunk_bytes;
    const relay_resource_t *resources;
    size_t num_resources;
    int max_threads;
    int spill_keep;
    int64_t store_budget;
    const char *spill_dir;
    int64_t spill_max;
    int crash_report;
    int spill_clean;
    double finalize_timeout;
    int rank_timeout;
    int summary;
    const char *trace;
    int64_t trace_buffer;
} relay_f_config_t;

static _Thread_local char f_error[RELAY_MAX_ERROR];
static _Thread_local int f_error_set;

static int f_fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f_error, sizeof f_error, fmt, ap);
    va_end(ap);
    f_error_set = 1;
    return status;
}

/* A relay call failed: its own message is the last error again. */
static int f_relay(int status)
{
    if (status != RELAY_OK) f_error_set = 0;
    return status;
}

RELAY_F_API void relay_f_error_clear(void)
{
    f_error_set = 0;
}

/* An error the Fortran side found: it is the last error until a relay call
 * fails. Returns status. */
RELAY_F_API int relay_f_set_error(int status, const char *msg)
{
    return f_fail(status, "%s", msg);
}

RELAY_F_API const char *relay_f_last_error(void)
{
    return f_error_set ? f_error : relay_last_error();
}

RELAY_F_API int relay_f_ctx_fail(relay_ctx_t *ctx, const char *msg)
{
    return f_relay(relay_ctx_fail(ctx, "%s", msg));
}

RELAY_F_API int relay_f_init(const relay_f_config_t *fc)
{
    relay_config_t c;
    memset(&c, 0, sizeof c);
    if (fc == NULL) return f_relay(relay_init(NULL, NULL, NULL));
    c.field_mask = fc->field_mask;
    if (fc->field_mask & RELAY_CONFIG_COMM) {
        int mpi_init = 0;
        /* MPI_Comm_f2c needs MPI: relay_init would start it later. */
        MPI_Initialized(&mpi_init);
        if (!mpi_init)
            return f_fail(RELAY_ERR_CONFIG,
                          "relay_init: config%%comm is set but MPI is not initialized "
                          "(call MPI_Init_thread with MPI_THREAD_MULTIPLE first)");
        c.comm = MPI_Comm_f2c((MPI_Fint)fc->comm);
    }
    c.num_cpus = fc->num_cpus;
    c.driver_workers = fc->driver_workers;
    c.inline_max = (size_t)fc->inline_max;
    c.log_level = fc->log_level;
    c.poll_max_us = fc->poll_max_us;
    c.chunk_bytes = (size_t)fc->chunk_bytes;
    c.num_gpus = fc->num_gpus;
    c.resources = fc->resources;
    c.num_resources = fc->num_resources;
    c.max_threads = fc->max_threads;
    c.store_budget = (size_t)fc->store_budget;
    c.spill_dir = fc->spill_dir;
    c.spill_keep = fc->spill_keep;
    c.spill_max = (size_t)fc->spill_max;
    c.crash_report = fc->crash_report;
    c.finalize_timeout = fc->finalize_timeout;
    c.spill_clean = fc->spill_clean;
    c.rank_timeout = fc->rank_timeout;
    c.summary = fc->summary;
    c.trace = fc->trace;
    c.trace_buffer = (size_t)fc->trace_buffer;
    return f_relay(relay_init(NULL, NULL, &c));
}

/* relay's dtype of a Fortran element type; RELAY_DTYPE_BYTES when it has
 * none (logical, character, derived types). *pair_p: complex (two values
 * per element). */
static relay_dtype_t f_dtype(const CFI_cdesc_t *d, int *pair_p)
{
    int kind = (int)(d->type >> CFI_type_kind_shift);
    *pair_p = 0;
    switch (d->type & CFI_type_mask) {
    case CFI_type_Integer:
        if (kind == 1) return RELAY_INT8;
        if (kind == 2) return RELAY_INT16;
        if (kind == 4) return RELAY_INT32;
        if (kind == 8) return RELAY_INT64;
        break;
    case CFI_type_Complex:
        *pair_p = 1;
        /* fall through */
    case CFI_type_Real:
        if (kind == 4) return RELAY_FLOAT32;
        if (kind == 8) return RELAY_FLOAT64;
        break;
    }
    *pair_p = 0;
    return RELAY_DTYPE_BYTES;
}

static const char *dtype_name(relay_dtype_t t)
{
    static const char *const names[] = {"bytes",  "int8",  "uint8",  "int16",   "uint16", "int32",
                                        "uint32", "int64", "uint64", "float32", "float64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Address and size of a Fortran variable, which must be contiguous and of
 * known size. */
static int f_extent(const CFI_cdesc_t *d, const char *call, void **addr_p, size_t *size_p)
{
    size_t n = d->elem_len;
    if (d->base_addr == NULL && d->rank > 0)
        return f_fail(RELAY_ERR_INVALID_ARG, "%s: the array is not allocated", call);
    if (!CFI_is_contiguous(d))
        return f_fail(RELAY_ERR_INVALID_ARG,
                      "%s: the array is not contiguous (pass a contiguous copy)", call);
    /* An assumed-size array (x(*)) reaches an assumed-rank dummy with a
     * last extent of -1: as a size_t it would be about 2^64 bytes. */
    for (int i = 0; i < d->rank; i++)
        if (d->dim[i].extent < 0)
            return f_fail(RELAY_ERR_INVALID_ARG,
                          "%s: assumed-size array: its size is unknown; pass a section x(1:n)",
                          call);
    for (int i = 0; i < d->rank; i++)
        n *= (size_t)d->dim[i].extent;
    *addr_p = d->base_addr;
    *size_p = n;
    return RELAY_OK;
}

/* [OUT] the bytes of any contiguous variable, for the module's call (a
 * NUL-terminated name: its errors name it). */
RELAY_F_API int relay_f_bytes(const CFI_cdesc_t *d, const char *call, void **addr_p, size_t *size_p)
{
    return f_extent(d, call, addr_p, size_p);
}

/* C dims of a Fortran array: its shape reversed, then 2 for complex. */
static int f_dims(const CFI_cdesc_t *d, const char *call, relay_dtype_t *dtype_p, int *ndims_p,
                  uint64_t *dims)
{
    int pair, n = 0;
    relay_dtype_t t = f_dtype(d, &pair);
    if (t == RELAY_DTYPE_BYTES)
        return f_fail(RELAY_ERR_INVALID_ARG,
                      "%s: relay has no element type for this Fortran type (integer(1,2,4,8), "
                      "real(4,8) and complex(4,8) have one; use relay_put for others)",
                      call);
    if (d->rank + pair > RELAY_MAX_DIMS)
        return f_fail(RELAY_ERR_INVALID_ARG, "%s: rank %d is above relay's %d dimensions", call,
                      (int)d->rank, RELAY_MAX_DIMS - pair);
    for (int i = d->rank - 1; i >= 0; i--)
        dims[n++] = (uint64_t)d->dim[i].extent;
    if (pair) dims[n++] = 2;
    if (n == 0) dims[n++] = 1; /* a scalar: one element */
    *dtype_p = t;
    *ndims_p = n;
    return RELAY_OK;
}

RELAY_F_API int relay_f_put_array(const CFI_cdesc_t *d, relay_ref_t *ref_p)
{
    void *addr;
    size_t size;
    relay_dtype_t t;
    int ndims;
    uint64_t dims[RELAY_MAX_DIMS];
    int rc = f_extent(d, "relay_put_array", &addr, &size);
    if (rc == RELAY_OK) rc = f_dims(d, "relay_put_array", &t, &ndims, dims);
    if (rc != RELAY_OK) return rc;
    return f_relay(relay_put_array(addr, t, ndims, dims, ref_p));
}

RELAY_F_API int relay_f_ctx_return_array(relay_ctx_t *ctx, size_t i, const CFI_cdesc_t *d)
{
    void *addr;
    size_t size;
    relay_dtype_t t;
    int ndims;
    uint64_t dims[RELAY_MAX_DIMS];
    int rc = f_extent(d, "relay_ctx_return_array", &addr, &size);
    if (rc == RELAY_OK) rc = f_dims(d, "relay_ctx_return_array", &t, &ndims, dims);
    if (rc != RELAY_OK) return rc;
    return f_relay(relay_ctx_return_array(ctx, i, addr, t, ndims, dims));
}

/* Signedness aside: an int32 variable takes a uint32 array. */
static relay_dtype_t signless(relay_dtype_t t)
{
    switch (t) {
    case RELAY_UINT8:
        return RELAY_INT8;
    case RELAY_UINT16:
        return RELAY_INT16;
    case RELAY_UINT32:
        return RELAY_INT32;
    case RELAY_UINT64:
        return RELAY_INT64;
    default:
        return t;
    }
}

/* Copy a view into a variable of exactly its size; a typed array only into
 * a variable of its element type (or a type relay has no dtype for). */
static int f_copy(relay_object_t obj, const CFI_cdesc_t *d, const char *call)
{
    void *addr;
    size_t size;
    relay_dtype_t ot;
    int pair, rc = f_extent(d, call, &addr, &size);
    if (rc != RELAY_OK) return rc;
    if ((rc = relay_object_array(obj, &ot, NULL, NULL)) != RELAY_OK) return f_relay(rc);
    relay_dtype_t vt = f_dtype(d, &pair);
    if (ot != RELAY_DTYPE_BYTES && vt != RELAY_DTYPE_BYTES && signless(ot) != vt)
        return f_fail(RELAY_ERR_INVALID_ARG,
                      "%s: the object is an array of %s, the variable's "
                      "elements are %s",
                      call, dtype_name(ot), dtype_name(vt));
    if (relay_object_size(obj) != size)
        return f_fail(RELAY_ERR_SIZE_MISMATCH,
                      "%s: the object has %zu bytes, the variable %zu (elements of %zu bytes)",
                      call, relay_object_size(obj), size, (size_t)d->elem_len);
    if (size > 0) memcpy(addr, relay_object_data(obj), size);
    return RELAY_OK;
}

RELAY_F_API int relay_f_object_copy(relay_object_t obj, const CFI_cdesc_t *d)
{
    if (obj == NULL) return f_fail(RELAY_ERR_INVALID_ARG, "relay_object_copy: a null view");
    int rc = relay_object_status(obj);
    if (rc != RELAY_OK) return f_fail(rc, "relay_object_copy: %s", relay_object_error(obj));
    return f_copy(obj, d, "relay_object_copy");
}

RELAY_F_API int relay_f_get(relay_ref_t ref, const CFI_cdesc_t *d, double timeout_s)
{
    relay_object_t obj = NULL;
    int rc = relay_get(ref, timeout_s, &obj);
    if (rc == RELAY_OK)
        rc = f_copy(obj, d, "relay_get");
    else
        f_relay(rc);
    if (obj) relay_object_free(obj);
    return rc;
}

RELAY_F_API int relay_f_ctx_arg(relay_ctx_t *ctx, size_t i, const CFI_cdesc_t *d)
{
    relay_object_t obj;
    int rc = relay_ctx_arg_object(ctx, i, &obj);
    if (rc != RELAY_OK) return f_relay(rc);
    return f_copy(obj, d, "relay_ctx_arg");
}
