/* Records that trigger bugs already reported (crashes/README.md), for long
 * fuzzing campaigns only: with RELAY_FUZZ_SKIP_KNOWN=1, fuzz_dispatch drops
 * such a record instead of dispatching it, so the fuzzer goes on to find
 * the next bug instead of finding the same one again and again. Off by
 * default (the CTest test and every replay see every record). Each check
 * reads only as far as it needs, with the library's own readers, and names
 * the input of crashes/ that shows the bug. Delete a check once its bug is
 * fixed; delete the file once all are. */
#include "known_bugs.h"

#include "object.h"
#include "registry.h"
#include "relay.h"
#include "resources.h"
#include "runtime.h"
#include "wire.h"

/* SUBMIT: crashes/submit-arg-kind (an argument kind other than 1 or 2),
 * crashes/submit-nret-* (more returns than RELAY_MAX_RETURNS),
 * crashes/submit-retries-* (more retries than 100), crashes/id-zero-*
 * (task id 0), crashes/submit-id-index (a task id with return-index bits
 * set: its return ids collide), crashes/uaf-ctor-unknown-class (an actor
 * of a class rank 0's worker does not know: the worker fails it while the
 * scheduler is still sending it), crashes/submit-id-reused (the id of a
 * task submitted before), crashes/submit-actor-threads (an actor asking
 * for more than RELAY_MAX_CONCURRENCY threads). */
static uint64_t submitted[64];
static size_t nsubmitted;

void fuzz_known_reset(void)
{
    nsubmitted = 0;
}

static const char *submit(relay__rbuf_t *r)
{
    uint64_t id = relay__get_u64(r);
    if (!r->err && id == 0) return "id-zero";
    if (!r->err && relay__id_index(id) != 0) return "submit-id-index";
    for (size_t i = 0; i < nsubmitted; i++)
        if (submitted[i] == id) return "submit-id-reused";
    if (nsubmitted < sizeof submitted / sizeof submitted[0]) submitted[nsubmitted++] = id;
    uint64_t fn_hash = relay__get_u64(r);
    relay__get_str(r);
    relay__get_str(r);
    uint32_t nret = relay__get_u32(r), retries = relay__get_u32(r), nargs = relay__get_u32(r);
    if (r->err) return NULL;
    if (nret > RELAY_MAX_RETURNS) return "submit-nret";
    if (retries > 100) return "submit-retries";
    for (uint32_t i = 0; i < nargs && i <= RELAY_MAX_ARGS && !r->err; i++) {
        uint8_t kind = relay__get_u8(r);
        if (r->err) return NULL;
        if (kind == RELAY_ARG_VALUE) {
            size_t n;
            relay__get_blob(r, &n);
        } else if (kind == RELAY_ARG_REF) {
            relay__get_u64(r);
        } else {
            return "submit-arg-kind";
        }
    }
    relay__demand_t d;
    if (relay__get_u8(r) && relay__demand_get(r, &d) != 0) return NULL;
    uint8_t kind = relay__get_u8(r);
    if (r->err || kind != RELAY__KIND_ACTOR) return NULL;
    if (!relay__class_lookup(fn_hash)) return "uaf-ctor-unknown-class";
    relay__get_u64(r);
    uint32_t max_conc = relay__get_u32(r);
    return !r->err && max_conc > RELAY_MAX_CONCURRENCY ? "submit-actor-threads" : NULL;
}

/* DONE: crashes/done-nret-hang (a return count far beyond the returns the
 * record holds). */
static const char *done(relay__rbuf_t *r)
{
    relay__get_u64(r);
    relay__get_u32(r);
    relay__get_u64(r);
    relay__get_str(r);
    uint32_t nret = relay__get_u32(r);
    return !r->err && nret > RELAY_MAX_RETURNS ? "done-nret" : NULL;
}

/* PUT: crashes/id-zero-put (object id 0). */
static const char *put(relay__rbuf_t *r)
{
    uint64_t id = relay__get_u64(r);
    return !r->err && id == 0 ? "id-zero" : NULL;
}

/* TASK: crashes/task-holder-* (an argument held by a rank that does not
 * exist), crashes/task-bad-desc (an argument descriptor cut short). */
static const char *task(relay__rbuf_t *r)
{
    relay__get_u64(r);
    relay__get_u64(r);
    relay__get_str(r);
    relay__get_str(r);
    relay__get_u32(r);
    relay__get_u32(r);
    if (relay__get_u8(r)) {
        relay__get_u64(r);
        uint32_t ngpu = relay__get_u32(r);
        for (uint32_t g = 0; g < ngpu && !r->err; g++) {
            relay__get_u32(r);
            relay__get_u64(r);
        }
    }
    if (relay__get_u8(r) != RELAY__KIND_TASK) {
        relay__get_u64(r);
        relay__get_u64(r);
        relay__get_u32(r);
    }
    uint32_t nargs = relay__get_u32(r);
    for (uint32_t i = 0; i < nargs && i <= RELAY_MAX_ARGS && !r->err; i++) {
        if (relay__get_u8(r) == RELAY_ARG_VALUE) {
            size_t n;
            relay__get_blob(r, &n);
            continue;
        }
        relay__get_u64(r);
        relay__desc_t d;
        relay__desc_get(r, &d);
        if (r->err) return "task-bad-desc";
        if (!d.is_inline && (d.holder < 0 || d.holder >= relay__g.size)) return "task-holder";
    }
    return NULL;
}

const char *fuzz_known_bug(uint8_t type, const uint8_t *payload, size_t n)
{
    relay__rbuf_t r;
    relay__rbuf_init(&r, payload, n);
    switch (type) {
    case RELAY__R_SUBMIT:
        return submit(&r);
    case RELAY__R_PUT:
        return put(&r);
    case RELAY__R_DONE:
        return done(&r);
    case RELAY__R_TASK:
        return task(&r);
    default:
        return NULL;
    }
}
