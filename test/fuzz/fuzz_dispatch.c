/* libFuzzer target: the records of an input are dispatched on rank 0 of a
 * one-process relay (MPI singleton: rank 0 is scheduler, directory and
 * worker), as if a rank had sent them.
 *
 * Input: records in wire framing, [u8 type][u32 length][payload]
 * (wire.h), with two changes so that mutations stay meaningful:
 *  - a length that runs past the end of the input is cut to what is left,
 *    so a mutated length moves a record boundary instead of dropping the
 *    rest of the input as a truncated message;
 *  - type 0, which no record has, ends a message: the records before it
 *    are dispatched as one message and the runtime settles (the tasks they
 *    started run and their completions come back) before the next one.
 * An input without a type 0 record is one message, byte for byte what
 * relay__dispatch receives (lengths aside). Records come from rank 0
 * itself: the only rank there is.
 *
 * State: every input starts from a freshly initialised runtime. After an
 * input the runtime settles; if anything is left over (objects, tasks,
 * actors, changed accounting, a shutdown begun...) relay is finalized and
 * initialised again (MPI stays up). So no input sees another's state, a
 * crashing input reproduces on its own, work an input started finishes
 * (or crashes) inside that input, and LeakSanitizer, which libFuzzer runs
 * after an input that allocated more than it freed, blames the input that
 * leaked. An input that leaves nothing behind costs no restart.
 *
 * Environment: RELAY_FUZZ_VERBOSE=1 keeps relay's log (silenced by
 * default: every malformed record logs a line). */
#include <mpi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actor_host.h"
#include "comm.h"
#include "directory.h"
#include "fuzz_funcs.h"
#include "relay.h"
#include "runtime.h"
#include "sched_state.h"
#include "scheduler.h"
#include "store.h"
#include "wire.h"
#include "worker.h"
#include "worker_state.h"

/* How long the runtime may take to settle after a message: the fuzz
 * functions wait at most FUZZ_WAIT_MAX_S each, so this is ample. */
#define SETTLE_MAX_S 2.0
/* The first sequence number rank 0 hands out (bring_up). */
#define OWN_SEQ (UINT64_C(1) << 35)

static relay_config_t cfg;
static relay_resource_t res[1] = {{"fuzzres", 4}};
static int up, verbose;

/* What must be as it was after relay_init for the next input to start
 * from the same state. */
typedef struct fingerprint {
    int shutting_down, exiting;
    uint64_t next_seq, next_req, reqs, holds, live_objects, live_views;
    uint64_t dir_objects, dir_bytes, dir_waiters, store_objects, store_bytes, spilled;
    uint64_t sched_tasks, sched_running, blocked_holders, actors;
    int sched_shutting_down, acks, extra_shapes;
    double avg_run_seconds;
    int64_t cpu_used, cpu_free, gpu[RELAY__MAX_GPUS], custom[RELAY_MAX_RESOURCES];
    uint32_t zero_cpu;
    uint64_t hosted, pool_queued;
} fingerprint_t;

static fingerprint_t baseline;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Lock held. */
static void fingerprint_take(fingerprint_t *f)
{
    memset(f, 0, sizeof *f); /* padding too: fingerprints compare with memcmp */
    f->shutting_down = relay__g.shutting_down;
    f->exiting = relay__g.exiting;
    f->next_seq = atomic_load(&relay__g.next_seq);
    f->next_req = relay__g.next_req;
    f->reqs = relay__g.reqs.count;
    f->holds = relay__g.holds.count;
    f->live_objects = atomic_load(&relay__g.live_objects);
    f->live_views = atomic_load(&relay__g.live_views);
    relay__dir_stats(&f->dir_objects, &f->dir_bytes);
    f->dir_waiters = relay__dir_waiters();
    relay__store_stats_t st;
    relay__store_stats(&st);
    f->store_objects = st.objects;
    f->store_bytes = st.bytes_in_memory;
    f->spilled = st.spilled_objects;
    relay__sched_t *s = relay__sched_state();
    if (s) {
        f->sched_tasks = s->tasks.count;
        f->sched_running = s->running;
        f->blocked_holders = s->blocked_holders;
        f->sched_shutting_down = s->shutting_down;
        f->acks = s->acks;
        f->avg_run_seconds = s->avg_run_seconds;
        for (relay__list_t *n = relay__list_first(&s->shapes); n;
             n = relay__list_next(&s->shapes, n))
            f->extra_shapes += RELAY__LIST_ENTRY(n, relay__shape_t, link) != s->dflt;
        const relay__acct_t *a = &s->acct[0];
        f->cpu_used = a->cpu_used;
        f->zero_cpu = a->zero_cpu;
        for (int g = 0; g < a->ngpu && g < RELAY__MAX_GPUS; g++)
            f->gpu[g] = a->gpu_free[g];
        const relay__cluster_t *c = relay__cluster();
        for (uint32_t i = 0; i < c->ncustom && i < RELAY_MAX_RESOURCES; i++)
            f->custom[i] = a->custom_free[i];
    }
    relay__map_t *actors = relay__actor_table();
    f->actors = actors ? actors->count : 0;
    uint64_t calls, methods;
    relay__host_stats(&f->hosted, &calls, &methods);
    relay__pool_t *p = relay__g.pool;
    if (p) {
        f->cpu_free = p->cpu_free;
        for (relay__list_t *n = relay__list_first(&p->queue); n; n = relay__list_next(&p->queue, n))
            f->pool_queued++;
    }
}

static void bring_up(void)
{
    int rc = relay_init(NULL, NULL, &cfg);
    if (rc != RELAY_OK) {
        fprintf(stderr, "fuzz_dispatch: relay_init: %s: %s\n", relay_status_name(rc),
                relay_last_error());
        abort();
    }
    pthread_mutex_lock(&relay__g.lock);
    if (!verbose) relay__g.cfg.log_level = -1; /* below errors: nothing is printed */
    /* Rank 0 has made many ids already: the ids of rank 0 an input names
     * (sequence numbers below OWN_SEQ, rank0_ids.c) pass its client's
     * check that a ref of its own was created, and never clash with those
     * it makes now. */
    atomic_store(&relay__g.next_seq, OWN_SEQ);
    fingerprint_take(&baseline);
    pthread_mutex_unlock(&relay__g.lock);
    up = 1;
}

static void bring_down(void)
{
    if (!up) return;
    up = 0;
    int rc = relay_finalize();
    if (rc != RELAY_OK) {
        fprintf(stderr, "fuzz_dispatch: relay_finalize: %s\n", relay_status_name(rc));
        abort();
    }
}

static void at_exit(void)
{
    bring_down();
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* Open MPI catches SIGABRT at MPI_Init unless told not to, before
     * libFuzzer sets its handlers (which then leave it be): an abort (a
     * failed assertion) would end the run without the input saved. */
    setenv("OMPI_MCA_opal_signal", "", 0);
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS ||
        provided < MPI_THREAD_MULTIPLE) {
        fprintf(stderr, "fuzz_dispatch: MPI without MPI_THREAD_MULTIPLE\n");
        abort();
    }
    const char *v = getenv("RELAY_FUZZ_VERBOSE");
    verbose = v && *v && *v != '0';
    int rc = fuzz_register();
    if (rc != RELAY_OK) {
        fprintf(stderr, "fuzz_dispatch: registering functions: %s\n", relay_status_name(rc));
        abort();
    }
    /* Small and fixed, whatever the machine: restarts stay cheap, and the
     * corpus's demands (1 virtual GPU, the custom resource) are feasible. */
    cfg.field_mask = RELAY_CONFIG_NUM_CPUS | RELAY_CONFIG_MAX_THREADS | RELAY_CONFIG_NUM_GPUS |
                     RELAY_CONFIG_RESOURCES | RELAY_CONFIG_POLL_MAX_US | RELAY_CONFIG_INLINE_MAX;
    cfg.num_cpus = 2;
    cfg.max_threads = 8;
    cfg.num_gpus = 1;
    cfg.resources = res;
    cfg.num_resources = 1;
    cfg.poll_max_us = 100;
    cfg.inline_max = 1024; /* larger objects stay in the store: its paths are reachable */
    bring_up();
    atexit(at_exit);
    return 0;
}

/* Work the runtime can still do without another message (records rank 0
 * queued for itself count: relay__msg_end_later). Lock held. */
static int busy(void)
{
    uint64_t running, blocked, threads;
    relay__pool_stats(&running, &blocked, &threads);
    if (running > 0 || relay__host_busy() || relay__comm_local_pending()) return 1;
    const relay__pool_t *p = relay__g.pool;
    if (!p || p->stop) return 0;
    /* Queued: busy only if the head may start (as the pool decides). */
    const relay_ctx_t *c = relay__ctx_first(&p->queue);
    if (!c) return 0;
    return c->cpu == 0 || (p->resumers == 0 && c->cpu <= p->cpu_free);
}

static void settle(void)
{
    double end = now() + SETTLE_MAX_S;
    struct timespec nap = {0, 20000};
    for (;;) {
        pthread_mutex_lock(&relay__g.lock);
        if (relay__g.rank == 0) relay__sched_tick();
        int b = busy();
        pthread_mutex_unlock(&relay__g.lock);
        if (!b || now() > end) return;
        nanosleep(&nap, NULL);
    }
}

/* A buffer of exactly n bytes, as a received message is: a read past its
 * end is AddressSanitizer's to see. */
static void deliver(const uint8_t *msg, size_t n)
{
    if (n == 0) return;
    uint8_t *buf = malloc(n);
    if (!buf) abort();
    memcpy(buf, msg, n);
    pthread_mutex_lock(&relay__g.lock);
    relay__dispatch(0, buf, n);
    relay__sched_tick(); /* as the runtime thread does after each message */
    pthread_mutex_unlock(&relay__g.lock);
    free(buf);
    settle();
}

static int dirty(void)
{
    fingerprint_t f;
    pthread_mutex_lock(&relay__g.lock);
    fingerprint_take(&f);
    pthread_mutex_unlock(&relay__g.lock);
    return memcmp(&f, &baseline, sizeof f) != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *msg;
    static size_t cap;
    if (size > cap) {
        uint8_t *m = realloc(msg, size);
        if (!m) abort();
        msg = m;
        cap = size;
    }
    if (!up) bring_up();
    const uint8_t *p = data, *end = data + size;
    while (p < end) {
        size_t n = 0;
        while (p < end) {
            size_t left = (size_t)(end - p);
            if (left < RELAY__RECORD_HDR) { /* a truncated header, as is */
                memcpy(msg + n, p, left);
                n += left;
                p = end;
                break;
            }
            uint8_t type = p[0];
            uint32_t len;
            memcpy(&len, p + 1, 4);
            if (len > left - RELAY__RECORD_HDR) len = (uint32_t)(left - RELAY__RECORD_HDR);
            const uint8_t *payload = p + RELAY__RECORD_HDR;
            p = payload + len;
            if (type == 0) break; /* end of this message */
            msg[n] = type;
            memcpy(msg + n + 1, &len, 4);
            memcpy(msg + n + RELAY__RECORD_HDR, payload, len);
            n += RELAY__RECORD_HDR + len;
        }
        deliver(msg, n);
    }
    if (dirty()) {
        bring_down();
        bring_up();
    }
    return 0;
}
