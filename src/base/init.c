/* relay_init / relay_finalize: the composition root that starts every
 * part in order and stops them in reverse, and the calls that read the
 * whole runtime (rank, size, stats, capacities). */
#include "records.h"
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "actor_host.h"
#include "client.h"
#include "clock.h"
#include "comm.h"
#include "config.h"
#include "crash.h"
#include "holdback.h"
#include "doorbell.h"
#include "dataflow.h"
#include "directory.h"
#include "gpu.h"
#include "log.h"
#include "object.h"
#include "resources.h"
#include "scheduler.h"
#include "spill.h"
#include "store.h"
#include "summary.h"
#include "trace.h"
#include "worker.h"
#include "worker_state.h"

/* Every rank's host name, for the messages that tell of a lost rank.
 * Collective. */
static int gather_hosts(void)
{
    char name[MPI_MAX_PROCESSOR_NAME] = "", mine[RELAY__HOST_MAX];
    int len = 0;
    MPI_Get_processor_name(name, &len);
    snprintf(mine, sizeof mine, "%s", name);
    relay__g.hosts = calloc((size_t)relay__g.size, RELAY__HOST_MAX);
    int ok = relay__g.hosts != NULL, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, relay__g.comm);
    if (!all) {
        free(relay__g.hosts);
        relay__g.hosts = NULL;
        return relay__error(RELAY_ERR_NO_MEMORY, "relay_init: out of memory");
    }
    MPI_Allgather(mine, RELAY__HOST_MAX, MPI_CHAR, relay__g.hosts, RELAY__HOST_MAX, MPI_CHAR,
                  relay__g.comm);
    for (int r = 0; r < relay__g.size; r++)
        relay__g.hosts[(size_t)r * RELAY__HOST_MAX + RELAY__HOST_MAX - 1] = '\0';
    return RELAY_OK;
}

/* MPI for relay: initialise it if nobody has, and insist on full thread
 * support because the runtime thread talks MPI while the program's threads
 * may too. */
static int mpi_setup(int *argc, char ***argv, int node_per_rank)
{
    int flag = 0, provided = 0;
    MPI_Finalized(&flag);
    if (flag) return relay__error(RELAY_ERR_MPI, "relay_init: MPI has already been finalized");
    MPI_Initialized(&flag);
    if (!flag) {
        if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
            return relay__error(RELAY_ERR_MPI, "relay_init: MPI_Init_thread failed");
        relay__g.mpi_owned = 1;
    } else {
        MPI_Query_thread(&provided);
    }
    if (provided < MPI_THREAD_MULTIPLE)
        return relay__error(RELAY_ERR_MPI,
                            "relay_init: MPI provides thread level %d; relay needs "
                            "MPI_THREAD_MULTIPLE (%d)",
                            provided, MPI_THREAD_MULTIPLE);
    if (MPI_Comm_dup(relay__g.cfg.comm, &relay__g.comm) != MPI_SUCCESS)
        return relay__error(RELAY_ERR_MPI, "relay_init: MPI_Comm_dup failed");
    MPI_Comm_set_errhandler(relay__g.comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(relay__g.comm, &relay__g.rank);
    MPI_Comm_size(relay__g.comm, &relay__g.size);
    /* GPU sharing, the default budget and spinning need the machine;
     * doorbells the node. */
    if (MPI_Comm_split_type(relay__g.comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
                            &relay__g.host) != MPI_SUCCESS) {
        relay__g.host = MPI_COMM_NULL;
        return relay__error(RELAY_ERR_MPI, "relay_init: cannot group the ranks of a node");
    }
    relay__g.node = relay__g.host;
    if (node_per_rank && MPI_Comm_dup(MPI_COMM_SELF, &relay__g.node) != MPI_SUCCESS) {
        relay__g.node = MPI_COMM_NULL;
        return relay__error(RELAY_ERR_MPI, "relay_init: cannot make a node of this rank");
    }
    if (relay__g.size > (1 << 20))
        return relay__error(RELAY_ERR_MPI, "relay_init: %d ranks, at most %d supported",
                            relay__g.size, 1 << 20);
    int rc = gather_hosts();
    /* Log lines and trace events carry the job clock from here on. */
    if (!rc && relay__clock_sync(relay__g.comm) < 0)
        relay__log(RELAY__LOG_WARN, "clock offset to rank 0 not measured: times in logs and "
                                    "traces count from this rank's own start");
    return rc;
}

static void free_node_comms(void)
{
    if (relay__g.node != relay__g.host && relay__g.node != MPI_COMM_NULL)
        MPI_Comm_free(&relay__g.node);
    if (relay__g.host != MPI_COMM_NULL) MPI_Comm_free(&relay__g.host);
    relay__g.node = relay__g.host = MPI_COMM_NULL;
}

/* The thread that called relay_init: the only one that may finalize. */
static pthread_t init_thread;
/* The trace's and the summary's gathers at relay_finalize (gather.h):
 * their own communicator, made at init when either is on. */
static MPI_Comm report_comm = MPI_COMM_NULL;

/* Stops every part. Work still running here (relay_finalize's wait gave
 * up on it) is abandoned, named in report (n bytes); returns how many. */
static int teardown_report(char *report, size_t n)
{
    int abandoned = relay__pool_join(report, n);
    relay__store_stop(); /* no read answers a fetch once the transport is gone */
    relay__comm_join();
    relay__crash_fini(); /* nothing runs tasks now, and no report could go */
    /* A thread abandoned above may be inside a relay call that found relay
     * on just before it went off: such calls look again once they hold the
     * lock (relay__is_on), so what they read goes only under it. */
    pthread_mutex_lock(&relay__g.lock);
    relay__holdback_destroy();
    relay__sched_destroy();
    relay__dir_destroy();
    relay__store_destroy();
    relay__cluster_destroy();
    relay__map_destroy(&relay__g.reqs);
    relay__map_destroy(&relay__g.holds);
    relay__released_reset();
    relay__rank_fates_free();
    free(relay__g.hosts);
    relay__g.hosts = NULL;
    pthread_mutex_unlock(&relay__g.lock);
    relay__spill_fini();
    relay__gpu_teardown();
    relay__obj_cache_drain();
    relay__bell_fini();
    free_node_comms();
    if (report_comm != MPI_COMM_NULL) MPI_Comm_free(&report_comm);
    if (relay__g.comm != MPI_COMM_NULL) MPI_Comm_free(&relay__g.comm);
    relay__g.comm = MPI_COMM_NULL;
    relay__trace_fini(abandoned != 0); /* abandoned threads may still record */
    return abandoned;
}

static void teardown(void)
{
    char none[1];
    teardown_report(none, sizeof none);
}

/* Collective: what this rank offers (GPUs first: the machine's ranks share
 * them out), then the cluster table every rank keeps. */
static int resources_setup(int hosts_workers, const relay__offer_t *offer)
{
    int rc = relay__gpu_setup(relay__g.host, hosts_workers, offer->num_gpus);
    if (rc) return rc;
    relay__offer_t none = {.num_gpus = 0, .ncustom = 0};
    int64_t cpu = hosts_workers ? (int64_t)relay__g.cfg.num_cpus * RELAY__UNIT : 0;
    return relay__cluster_init(relay__g.comm, cpu, relay__gpu_count(),
                               hosts_workers ? relay__g.cfg.max_threads : 0,
                               hosts_workers ? offer : &none);
}

/* A name for this job's spill files, the same on every rank: Slurm's job
 * and step when there are, else rank 0's start time; then rank 0's
 * process id (two runs in one allocation differ). No '-' in the first
 * part: spill file names are read from the right. Collective. */
static void job_name(char *buf, size_t n)
{
    char name[RELAY__SPILL_JOB_MAX] = "";
    if (relay__g.rank == 0) {
        const char *job = getenv("SLURM_JOB_ID"), *step = getenv("SLURM_STEP_ID");
        char stamp[48];
        if (job && *job)
            snprintf(stamp, sizeof stamp, "%.20s.%.10s", job, step && *step ? step : "0");
        else
            snprintf(stamp, sizeof stamp, "%lld", (long long)time(NULL));
        relay__spill_token(name, 40, stamp);
        snprintf(name + strlen(name), sizeof name - strlen(name), "-%lld", (long long)getpid());
    }
    MPI_Bcast(name, (int)sizeof name, MPI_CHAR, 0, relay__g.comm);
    name[sizeof name - 1] = '\0';
    snprintf(buf, n, "%s", name);
}

/* A cgroup memory limit file's value; 0 when absent or unlimited. */
static uint64_t read_limit(const char *path)
{
    FILE *f = fopen(path, "r");
    unsigned long long v = 0;
    if (!f) return 0;
    if (fscanf(f, "%llu", &v) != 1) v = 0; /* "max": no limit */
    fclose(f);
    return v;
}

/* The memory limit of this process's cgroup (v2, else v1: how Slurm and
 * containers confine a job), 0 when none. */
static uint64_t cgroup_limit(void)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[1024], path[1200];
    uint64_t limit = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *rel = strchr(line, ':');
        char *cg = rel ? strchr(rel + 1, ':') : NULL;
        if (!cg) continue;
        uint64_t v = 0;
        if (!strncmp(line, "0::", 3))
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", cg + 1);
        else if (strstr(rel, ":memory:") == rel)
            snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", cg + 1);
        else
            continue;
        v = read_limit(path);
        if (v && (!limit || v < limit)) limit = v;
    }
    if (f) fclose(f);
    return limit;
}

/* Half the memory this machine lets the job use (its physical memory, or
 * its cgroup's limit when lower), shared among its ranks. */
static uint64_t default_budget(void)
{
    int nlocal = 1;
    MPI_Comm_size(relay__g.host, &nlocal);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t mem = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : (uint64_t)1 << 32;
    uint64_t cg = cgroup_limit();
    if (cg && cg < mem) mem = cg;
    return mem / 2 / (uint64_t)(nlocal > 0 ? nlocal : 1);
}

/* The store and its spill file. Collective (the job name, and whether every rank can spill). */
static int store_setup(void)
{
    char job[RELAY__SPILL_JOB_MAX];
    job_name(job, sizeof job);
    uint64_t budget =
        relay__g.cfg.store_budget == SIZE_MAX ? default_budget() : relay__g.cfg.store_budget;
    relay__g.cfg.store_budget = budget;
    int rc = relay__spill_init(relay__g.cfg.spill_dir,
                               getenv("RELAY_SPILL_DIR") ? "RELAY_SPILL_DIR" : "spill directory",
                               job, relay__g.rank, relay__g.cfg.spill_max, relay__g.cfg.spill_keep);
    /* Every rank knows whether every other could: none starts alone. */
    int ok = rc == RELAY_OK, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, relay__g.comm);
    if (rc) return rc;
    if (!all)
        return relay__error(RELAY_ERR_CONFIG, "relay_init: another rank cannot use its spill "
                                              "directory");
    /* Leftovers of ended runs: looked for once per host. */
    int host_rank = 0;
    MPI_Comm_rank(relay__g.host, &host_rank);
    if (host_rank == 0) {
        relay__spill_clean_t found;
        relay__spill_clean(relay__g.cfg.spill_dir, job, relay__g.cfg.spill_clean, &found);
    }
    relay__obj_cache_limit(budget);
    return relay__store_init(budget);
}

/* SHUTDOWN from rank 0: client calls fail from now on, waiting ones wake,
 * and the rank's workers wind down. */
static void on_shutdown(int src, relay__rbuf_t *r)
{
    if (relay__rec_empty_decode(r) != 0) {
        relay__rec_malformed(RELAY__R_SHUTDOWN, src, r);
        return;
    }
    relay__g.shutting_down = 1;
    relay__client_fail_all();
    pthread_cond_broadcast(&relay__g.state_cv);
    relay__pool_shutdown();
}

/* A rank was lost (comm.c found it, or rank 0 said so): on rank 0 its work
 * goes elsewhere or fails; other ranks' transports already dropped it. */
static void on_rank_lost(int rank)
{
    if (relay__g.rank != 0) return;
    relay__holdback_rank_lost(rank);
    relay__sched_rank_lost(rank);
}

int relay_init(int *argc, char ***argv, const relay_config_t *config)
{
    if (relay__is_on())
        return relay__error(RELAY_ERR_ALREADY_INITIALIZED, "relay_init: already initialized");
    relay_config_t cfg;
    relay__offer_t offer;
    int node_per_rank = 0;
    int rc = relay__config_resolve(config, &cfg, &offer);
    if (!rc) rc = relay__config_nodes(&node_per_rank);
    if (rc) return rc;
    relay__g.cfg = cfg;
    relay__g.comm = relay__g.host = relay__g.node = MPI_COMM_NULL;
    relay__g.shutting_down = relay__g.exiting = relay__g.ranks_lost = 0;
    atomic_store(&relay__g.next_seq, 1);
    /* Counters describe this init .. finalize period. */
    atomic_store(&relay__g.tasks_submitted, 0);
    atomic_store(&relay__g.tasks_executed, 0);
    atomic_store(&relay__g.bytes_fetched, 0);
    relay__g.next_req = 0;
    relay__map_init(&relay__g.reqs);
    relay__map_init(&relay__g.holds);
    relay__released_reset();
    if ((rc = mpi_setup(argc, argv, node_per_rank))) {
        free(relay__g.hosts);
        relay__g.hosts = NULL;
        free_node_comms();
        if (relay__g.comm != MPI_COMM_NULL) MPI_Comm_free(&relay__g.comm);
        relay__g.comm = MPI_COMM_NULL;
        return rc;
    }
    if ((rc = relay__trace_init(relay__g.comm, relay__g.rank, cfg.trace, cfg.trace_buffer,
                                cfg.log_level >= RELAY__LOG_DEBUG)) ||
        (rc = relay__bell_init(relay__g.node, relay__g.host))) {
        teardown();
        return rc;
    }
    /* Counters start before anything can run. */
    relay__g.cfg.summary = relay__summary_start(relay__g.comm, cfg.summary);
    /* Both settings are rank 0's on every rank: all dup, or none. */
    if ((relay__g.cfg.summary || relay__trace_recording()) &&
        MPI_Comm_dup(relay__g.comm, &report_comm) != MPI_SUCCESS) {
        report_comm = MPI_COMM_NULL;
        teardown();
        return relay__error(RELAY_ERR_MPI, "relay_init: MPI_Comm_dup failed");
    }
    int hosts_workers = relay__g.rank != 0 || relay__g.size == 1 || cfg.driver_workers;
    /* Each part registers the records it handles as it starts; every rank
     * is a client and shuts down when rank 0 says so. */
    relay__comm_handlers_init();
    relay__client_init();
    relay__handler_set(RELAY__R_SHUTDOWN, on_shutdown);
    relay__comm_hooks()->rank_lost = on_rank_lost;
    rc = resources_setup(hosts_workers, &offer);
    if (!rc) rc = store_setup();
    if (!rc && relay__g.rank == 0) rc = relay__dir_init();
    if (!rc && relay__g.rank == 0) rc = relay__sched_init();
    if (!rc && relay__g.rank == 0) rc = relay__holdback_init();
    /* Workers wait before any task can arrive, and relay is on before the
     * first does: a task may call relay from its first instruction. Tasks
     * arrive through the transport, so it comes last; idle workers already
     * poll for it and take turns only once it is published whole. */
    if (!rc) relay__crash_init(hosts_workers); /* before any worker thread starts */
    if (!rc && hosts_workers) rc = relay__pool_start(cfg.num_cpus, cfg.max_threads);
    if (!rc) {
        atomic_store_explicit(&relay__g.state, RELAY__STATE_ON, memory_order_release);
        rc = relay__comm_start();
    }
    if (rc) {
        atomic_store_explicit(&relay__g.state, RELAY__STATE_OFF, memory_order_release);
        teardown();
        return rc;
    }
    /* Ranks start their transports at different times (spill cleaning,
     * worker threads): silence is judged only once all have, so that a
     * rank slow to start is not taken for lost. A collective may proceed
     * beside the runtime thread's point-to-point traffic on one comm. */
    MPI_Barrier(relay__g.comm);
    relay__comm_live_arm();
    init_thread = pthread_self();
    relay__log(RELAY__LOG_INFO, "rank %d of %d: %d worker CPUs, %d GPUs, %u custom resources%s",
               relay__g.rank, relay__g.size, hosts_workers ? cfg.num_cpus : 0, relay__gpu_count(),
               hosts_workers ? offer.ncustom : 0,
               node_per_rank ? "; a node of its own (RELAY_NODES=rank)" : "");
    return RELAY_OK;
}

/* Finalize on another thread would wait for itself (a task: its rank
 * acknowledges once its tasks return) or pull relay from under the thread
 * that called relay_init. */
static int wrong_thread(void)
{
    const relay_ctx_t *c = relay__worker_current();
    if (c)
        return relay__error(RELAY_ERR_WRONG_THREAD,
                            "relay_finalize: called from %s '%s' on rank %d; only the thread that "
                            "called relay_init may finalize",
                            c->kind == RELAY__KIND_METHOD  ? "actor method"
                            : c->kind == RELAY__KIND_ACTOR ? "actor constructor"
                                                           : "task",
                            c->name, relay__g.rank);
    return relay__error(RELAY_ERR_WRONG_THREAD,
                        "relay_finalize: called on a thread other than the one that called "
                        "relay_init on rank %d; only that thread may finalize",
                        relay__g.rank);
}

/* Rank 0 waits for every rank's acknowledgement at most finalize_timeout,
 * then abandons what still runs (named in report), notes the ranks that
 * did not acknowledge (in unacked, m bytes) and sends EXIT itself.
 * Returns how many tasks it abandoned. Lock held. */
static int wait_for_exit(char *report, size_t n, char *unacked, size_t m, double *waited_p)
{
    double t0 = relay__now(), limit = relay__g.cfg.finalize_timeout;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    double end = (double)until.tv_sec + until.tv_nsec * 1e-9 + limit;
    until.tv_sec = (time_t)end;
    until.tv_nsec = (long)((end - (double)until.tv_sec) * 1e9);
    int timed_out = 0;
    while (!relay__g.exiting && !timed_out)
        timed_out = pthread_cond_timedwait(&relay__g.state_cv, &relay__g.lock, &until) != 0 &&
                    !relay__g.exiting;
    int abandoned = 0;
    if (timed_out) {
        *waited_p = relay__now() - t0;
        relay__sched_unacked(unacked, m);
        abandoned = relay__sched_abandon(*waited_p, report, n);
    }
    while (!relay__g.exiting) /* the EXIT rank 0 sent itself */
        pthread_cond_wait(&relay__g.state_cv, &relay__g.lock);
    return abandoned;
}

/* Every rank's figures to rank 0, which prints the summary. Collective
 * (the runtime thread may still flush point-to-point traffic beside it;
 * every rank is here, worker ranks once rank 0 sent EXIT): after a rank
 * was lost it would wait for that rank forever. */
static void summary_gather(const char *skip, double timeout)
{
    if (!relay__g.cfg.summary) return;
    relay__summary_rank_t mine;
    relay__summary_local(&mine);
    pthread_mutex_lock(&relay__g.lock);
    relay__store_stats_t st;
    relay__store_stats(&st);
    pthread_mutex_unlock(&relay__g.lock);
    mine.spilled = st.writes;
    mine.restored = st.reads;
    mine.peak_bytes = st.peak_bytes;
    relay__summary_finish(report_comm, skip, timeout, &mine, relay__clock_now(), stderr);
}

/* The trace and the summary to rank 0, over their own communicator (the
 * runtime's may still carry its last messages). Rank 0 waits for no rank
 * it knows lost and for the others at most three rank timeouts: a rank
 * lost meanwhile, or stuck, costs a bounded wait, never a hang. */
static void reports_gather(void)
{
    if (report_comm == MPI_COMM_NULL) return;
    double timeout = relay__g.cfg.rank_timeout > 0 ? 3.0 * relay__g.cfg.rank_timeout : 30;
    char *skip = relay__g.rank == 0 ? calloc((size_t)relay__g.size, 1) : NULL;
    for (int r = 0; skip && r < relay__g.size; r++)
        skip[r] = (char)(relay__comm_rank_lost(r) != 0);
    relay__trace_finalize(report_comm, skip, timeout);
    summary_gather(skip, timeout);
    free(skip);
}

int relay_finalize(void)
{
    int rc = relay__check_on("relay_finalize");
    if (rc) return rc;
    if (!pthread_equal(pthread_self(), init_thread)) return wrong_thread();
    char report[RELAY_MAX_ERROR - 200], here[RELAY_MAX_ERROR - 200], unacked[200] = "";
    double waited = 0;
    int abandoned = 0;
    pthread_mutex_lock(&relay__g.lock);
    if (relay__g.rank == 0) {
        relay__sched_shutdown();
        abandoned = wait_for_exit(report, sizeof report, unacked, sizeof unacked, &waited);
    }
    while (!relay__g.exiting)
        pthread_cond_wait(&relay__g.state_cv, &relay__g.lock);
    pthread_mutex_unlock(&relay__g.lock);
    atomic_store_explicit(&relay__g.state, RELAY__STATE_OFF, memory_order_release);
    reports_gather();
    int left_here = teardown_report(here, sizeof here);
    /* Nothing of relay's may still be in flight when MPI goes away (the
     * threads abandoned above no longer reach MPI through relay). With a
     * rank lost, MPI_Finalize may wait forever for it (Open MPI's fence
     * does, now and then): the process then leaves MPI as it is. */
    if (relay__g.mpi_owned && !relay__g.ranks_lost) MPI_Finalize();
    relay__g.mpi_owned = 0;
    if (abandoned)
        return relay__error(RELAY_ERR_TIMEOUT,
                            "relay_finalize: abandoned %d task(s) still running after %.1f s "
                            "(finalize_timeout): %s",
                            abandoned, waited, report);
    /* A rank may be busy with what rank 0 cannot name: an actor's
     * destructor. */
    if (unacked[0])
        return relay__error(RELAY_ERR_TIMEOUT,
                            "relay_finalize: rank %s did not acknowledge the shutdown within "
                            "%.1f s (finalize_timeout); no task of it was known to run (an "
                            "actor's destructor may still run there)",
                            unacked, waited);
    if (left_here)
        return relay__error(RELAY_ERR_TIMEOUT,
                            "relay_finalize: abandoned %d task(s) still running on rank %d when "
                            "rank 0 ended the job: %s",
                            left_here, relay__g.rank, here);
    return RELAY_OK;
}

int relay_rank(int *rank_p)
{
    int rc = relay__check_on("relay_rank");
    if (rc) return rc;
    if (!rank_p) return relay__error(RELAY_ERR_INVALID_ARG, "relay_rank: rank_p is NULL");
    *rank_p = relay__g.rank;
    return RELAY_OK;
}

int relay_size(int *size_p)
{
    int rc = relay__check_on("relay_size");
    if (rc) return rc;
    if (!size_p) return relay__error(RELAY_ERR_INVALID_ARG, "relay_size: size_p is NULL");
    *size_p = relay__g.size;
    return RELAY_OK;
}

int relay_stats(relay_stats_t *s)
{
    int rc = relay__check_on("relay_stats");
    if (rc) return rc;
    if (!s) return relay__error(RELAY_ERR_INVALID_ARG, "relay_stats: stats_p is NULL");
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&relay__g.lock);
    if ((rc = relay__check_on("relay_stats"))) { /* finalized meanwhile */
        pthread_mutex_unlock(&relay__g.lock);
        return rc;
    }
    s->tasks_submitted = atomic_load(&relay__g.tasks_submitted);
    s->tasks_executed = atomic_load(&relay__g.tasks_executed);
    s->tasks_pending = relay__sched_pending();
    relay__dir_stats(&s->directory_objects, &s->directory_bytes);
    relay__store_stats_t st;
    relay__store_stats(&st);
    s->store_objects = st.objects;
    s->store_bytes = st.bytes_in_memory;
    s->spilled_objects = st.spilled_objects;
    s->spilled_bytes = st.spilled_bytes;
    s->spill_writes = st.writes;
    s->spill_reads = st.reads;
    s->spill_failures = st.failures;
    s->spill_write_bytes = st.write_bytes;
    s->spill_read_bytes = st.read_bytes;
    s->spill_write_ns = st.write_ns;
    s->spill_read_ns = st.read_ns;
    s->held_refs = relay__g.holds.count;
    s->live_views = atomic_load(&relay__g.live_views);
    s->bytes_fetched = atomic_load(&relay__g.bytes_fetched);
    s->live_objects = atomic_load(&relay__g.live_objects);
    s->directory_waiters = relay__dir_waiters();
    s->tasks_placed_ahead = relay__g.placed_ahead;
    s->tasks_waiting = relay__flow_waiting();
    s->objects_pushed = relay__g.objects_pushed;
    s->objects_handed_over = relay__g.objects_handed_over;
    s->objects_forwarded = relay__g.objects_forwarded;
    s->tasks_moved = relay__g.tasks_moved;
    s->ref_checks = relay__g.ref_checks;
    if (relay__g.rank == 0) relay__sched_lineage_stats(&s->lineage_tasks, &s->lineage_bytes);
    relay__pool_stats(&s->tasks_running, &s->tasks_blocked, &s->worker_threads);
    uint64_t methods;
    relay__host_stats(&s->actors_hosted, &s->actor_calls_run, &methods);
    pthread_mutex_unlock(&relay__g.lock);
    return RELAY_OK;
}

int relay_resource_capacity(int rank, const char *name, double *quantity_p)
{
    int rc = relay__check_on("relay_resource_capacity");
    if (rc) return rc;
    if (!name || !quantity_p)
        return relay__error(RELAY_ERR_INVALID_ARG, "relay_resource_capacity: NULL %s",
                            name ? "quantity_p" : "name");
    if (rank < -1 || rank >= relay__g.size)
        return relay__error(RELAY_ERR_INVALID_ARG,
                            "relay_resource_capacity: rank %d is not -1 or in 0..%d", rank,
                            relay__g.size - 1);
    const relay__cluster_t *c = relay__cluster();
    int idx = relay__cluster_index(name);
    int64_t units = 0;
    for (int r = rank < 0 ? 0 : rank; r < (rank < 0 ? relay__g.size : rank + 1); r++) {
        if (!strcasecmp(name, "CPU"))
            units += c->cpu[r];
        else if (!strcasecmp(name, "GPU"))
            units += (int64_t)c->ngpu[r] * RELAY__UNIT;
        else if (idx >= 0)
            units += c->custom[(size_t)r * c->ncustom + (size_t)idx];
    }
    *quantity_p = (double)units / RELAY__UNIT;
    return RELAY_OK;
}
