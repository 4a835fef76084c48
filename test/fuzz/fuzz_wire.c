/* libFuzzer target for the low-level readers every decoder is built on:
 * relay__get_* (wire.h), relay__desc_get (object.c) and relay__demand_get
 * (resources.c), on arbitrary bytes.
 *
 * Input: [u8 nops][nops op bytes][data]. Each op calls one reader on the
 * data, in sequence, as a decoder would; after each the target checks what
 * a reader promises: it never reads outside the data (AddressSanitizer:
 * the data is the input's own exactly-sized buffer), once a read failed
 * every later one fails and gives zeros, what it returns lies inside the
 * data, and what it validated is in range. A broken promise aborts.
 *
 * relay__demand_get checks custom resource indexes against the cluster
 * table, so relay is brought up once (one process, MPI singleton) with
 * two custom resources. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object.h"
#include "relay.h"
#include "resources.h"
#include "runtime.h"
#include "wire.h"

#define PROMISE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_wire: %s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const uint8_t *lo, *hi; /* the data */

static int inside(const void *p, size_t n)
{
    const uint8_t *b = p;
    return b >= lo && b <= hi && n <= (size_t)(hi - b);
}

static void at_exit(void)
{
    if (relay__is_on()) relay_finalize();
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
    static const relay_resource_t res[2] = {{"fuzzres", 4}, {"other", 1}};
    relay_config_t cfg = {0};
    cfg.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_RESOURCES | RELAY_CONFIG_LOG_LEVEL;
    cfg.num_cpus = 1;
    cfg.resources = res;
    cfg.num_resources = 2;
    cfg.log_level = 0;
    int rc = relay_init(NULL, NULL, &cfg);
    if (rc != RELAY_OK) {
        fprintf(stderr, "fuzz_wire: relay_init: %s\n", relay_last_error());
        abort();
    }
    atexit(at_exit);
    return 0;
}

/* After a failed read, every read fails and gives zeros. */
static void check_failed(relay__rbuf_t *r)
{
    relay__rbuf_t before = *r;
    size_t n = 7;
    PROMISE(relay__get_u8(r) == 0 && relay__get_u32(r) == 0 && relay__get_u64(r) == 0);
    PROMISE(relay__get_bytes(r, 0) == NULL && relay__get_blob(r, &n) == NULL && n == 0);
    PROMISE(relay__get_str(r)[0] == '\0');
    PROMISE(r->err && r->p == before.p);
}

static void read_desc(relay__rbuf_t *r)
{
    relay__desc_t d;
    relay__desc_get(r, &d);
    if (r->err) return;
    if (d.status != RELAY_OK) {
        PROMISE(d.errmsg && inside(d.errmsg, strlen(d.errmsg) + 1));
        return;
    }
    PROMISE(d.nrefs == 0 || inside(d.refs, (size_t)d.nrefs * 8));
    uint64_t sum = 0;
    for (uint32_t i = 0; i < d.nrefs; i++)
        sum += relay__desc_ref(&d, i);
    (void)sum;
    if (d.has_array) PROMISE(d.array.ndims >= 1 && d.array.ndims <= RELAY_MAX_DIMS);
    if (!d.is_inline) return;
    PROMISE(d.size == 0 || inside(d.bytes, (size_t)d.size));
    /* What the directory and the clients build from an inline descriptor. */
    struct relay_object *o = relay__obj_from_desc(1, &d);
    if (o) {
        PROMISE(o->size == d.size && o->nrefs == d.nrefs);
        PROMISE(d.size == 0 || memcmp(o->data, d.bytes, d.size) == 0);
    }
    relay__obj_unref(o);
}

static void read_demand(relay__rbuf_t *r)
{
    relay__demand_t d;
    memset(&d, 0, sizeof d);
    if (relay__demand_get(r, &d) != 0) return;
    PROMISE(!r->err && d.cpu >= 0 && d.gpu >= 0 && d.ncustom <= RELAY_MAX_RESOURCES);
    for (uint32_t i = 0; i < d.ncustom; i++)
        PROMISE(d.custom[i].idx < relay__cluster()->ncustom && d.custom[i].units > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t nops = data[0];
    if (nops > size - 1) nops = size - 1;
    const uint8_t *ops = data + 1;
    lo = ops + nops;
    hi = data + size;
    relay__rbuf_t r;
    relay__rbuf_init(&r, lo, (size_t)(hi - lo));
    for (size_t i = 0; i < nops; i++) {
        const uint8_t *at = r.p;
        int was_err = r.err;
        size_t n = 0;
        const void *p;
        switch (ops[i] % 9) {
        case 0:
            relay__get_u8(&r);
            break;
        case 1:
            relay__get_u32(&r);
            break;
        case 2:
            relay__get_u64(&r);
            break;
        case 3:
            n = ops[i] / 9; /* a small count */
            p = relay__get_bytes(&r, n);
            PROMISE(!p == !!r.err && (!p || (p == at && inside(p, n))));
            break;
        case 4:
            p = relay__get_blob(&r, &n);
            PROMISE(p ? inside(p, n) : n == 0);
            break;
        case 5: {
            const char *s = relay__get_str(&r);
            PROMISE(s && (r.err ? 1 : inside(s, strlen(s) + 1)));
            break;
        }
        case 6:
            read_desc(&r);
            break;
        case 7:
            read_demand(&r);
            break;
        default:
            if (r.err) check_failed(&r);
            break;
        }
        PROMISE(r.p >= lo && r.p <= hi && r.end == hi);
        PROMISE(!was_err || (r.err && r.p == at));
    }
    return 0;
}
