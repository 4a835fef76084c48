/*
 * relay: Ray's task model (remote functions, futures, get/put/wait, nested
 * tasks) for MPI programs.
 *
 * Rank 0 runs the driver (the program's main thread) and, on a runtime
 * thread, the scheduler and the object directory. The other ranks host
 * worker threads that run tasks. Every rank, and every running task, is a
 * client: it may submit tasks, put objects and get results.
 *
 * Conventions
 * - Every call returns a status: RELAY_OK (0) or a negative RELAY_ERR_*.
 *   relay_strerror() names it; relay_last_error() gives the detail of the
 *   last failing call on the calling thread.
 * - Output arguments come last, end in _p, and are written only on success.
 * - Unless a call says otherwise it may be called from any thread of any
 *   rank between relay_init() and relay_finalize(), including from inside a
 *   running task. Outside that window calls return RELAY_ERR_NOT_INITIALIZED.
 */
#ifndef RELAY_H
#define RELAY_H

#include <stddef.h>
#include <stdint.h>

/* mpi.h of Open MPI and MPICH pulls in the MPI C++ bindings (deprecated,
 * in a library of their own) when compiled as C++: a C++ program using
 * relay would then need that library at link. relay needs only the C API. */
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

/* Marks the API: librelay.so is built with every other symbol hidden, so
 * only these are exported. A program may define RELAY_API itself first. */
#ifndef RELAY_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define RELAY_API __attribute__((visibility("default")))
#else
#define RELAY_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define RELAY_VERSION_MAJOR 0
#define RELAY_VERSION_MINOR 1
#define RELAY_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Status codes                                                              */
/* ------------------------------------------------------------------------ */

/* X(name, value, description): one table makes the enum and the strings.
 * RELAY_ERR_WRONG_THREAD: a call that only one thread may make was made on
 * another (relay_finalize off the thread that called relay_init, e.g. from
 * inside a task or an actor method). RELAY_ERR_TRUNCATED: a call filling an
 * array the caller gave found more entries than it holds; it filled what
 * fits and says how many there are (relay_cluster_resources). */
#define RELAY_STATUS_MAP(X)                                                                        \
    X(OK, 0, "success")                                                                            \
    X(ERR_INVALID_ARG, -1, "invalid argument")                                                     \
    X(ERR_NOT_INITIALIZED, -2, "relay is not initialized (call relay_init first)")                 \
    X(ERR_ALREADY_INITIALIZED, -3, "relay is already initialized")                                 \
    X(ERR_UNKNOWN_FUNCTION, -4, "no function registered under this name")                          \
    X(ERR_EXISTS, -5, "a different function is already registered under this name")                \
    X(ERR_INVALID_REF, -6, "ref was never created or has been released")                           \
    X(ERR_TIMEOUT, -7, "timed out")                                                                \
    X(ERR_TASK_FAILED, -8, "the task that produces this object failed")                            \
    X(ERR_OUT_OF_RANGE, -9, "index out of range")                                                  \
    X(ERR_NOT_IN_TASK, -10, "call is only valid inside a running task")                            \
    X(ERR_NO_MEMORY, -11, "out of memory")                                                         \
    X(ERR_MPI, -12, "MPI error")                                                                   \
    X(ERR_CONFIG, -13, "invalid configuration value")                                              \
    X(ERR_SHUTDOWN, -14, "relay is shutting down")                                                 \
    X(ERR_SIZE_MISMATCH, -15, "object size differs from the buffer size given")                    \
    X(ERR_INTERNAL, -16, "internal error")                                                         \
    X(ERR_INFEASIBLE, -17, "no rank offers the resources the task asks for")                       \
    X(ERR_DEADLOCK, -18,                                                                           \
      "the task can never run: the resources it needs are held by tasks "                          \
      "waiting for it")                                                                            \
    X(ERR_ACTOR_DEAD, -19, "the actor is dead (killed, or its constructor failed)")                \
    X(ERR_NOT_FOUND, -20, "no actor has this name")                                                \
    X(ERR_CORRUPT, -21, "an object read back from its spill file failed its checksum")             \
    X(ERR_IO, -22, "a file could not be read or written")                                          \
    X(ERR_CANCELLED, -23, "the task was cancelled")                                                \
    X(ERR_RANK_LOST, -24, "the rank holding this work or object was lost")                         \
    X(ERR_WRONG_THREAD, -25, "this call is not allowed on the calling thread")                     \
    X(ERR_TRUNCATED, -26, "the array given is too small: what fits was filled")

typedef enum relay_status {
#define RELAY__STATUS_ENUM(name, value, desc) RELAY_##name = value,
    RELAY_STATUS_MAP(RELAY__STATUS_ENUM)
#undef RELAY__STATUS_ENUM
} relay_status_t;

/* [IN] status: any value. Returns a static description ("unknown status"
 * for values outside the table). Never fails. Any thread, any time. */
RELAY_API const char *relay_strerror(int status);

/* [IN] status. Returns the code's name, e.g. "RELAY_ERR_TIMEOUT". */
RELAY_API const char *relay_status_name(int status);

/* Detail of the last failing relay call on the calling thread (for a failed
 * task: function, rank and reason, with its chain of causes: see
 * relay_fn_t). At most RELAY_MAX_ERROR - 1 bytes; empty string when none.
 * The pointer is valid until the next relay call on this thread. Any
 * thread, any time. */
RELAY_API const char *relay_last_error(void);

/* ------------------------------------------------------------------------ */
/* Values                                                                    */
/* ------------------------------------------------------------------------ */

/* A ref names an object (a future). It is a plain value: copy it freely,
 * store it in objects, pass it to tasks, or send it to another rank with
 * the program's own MPI messages (rank 0 waits for the maker's records
 * before it judges a ref it has not heard of). Ids are unique without
 * coordination: creating rank, sequence number, return index. */
typedef struct relay_ref {
    uint64_t id;
} relay_ref_t;

/* C++ has no compound literals: value-initialise there instead. */
#ifdef __cplusplus
#define RELAY_REF_NULL (relay_ref_t{})
#else
#define RELAY_REF_NULL ((relay_ref_t){0})
#endif

/* Dead own refs. A ref this rank made (its creating rank is this rank)
 * that it never made (a sequence number beyond those it handed out), or
 * that it released and that no longer exists, is refused on the spot with
 * RELAY_ERR_INVALID_REF by relay_submit, relay_actor_create and
 * relay_actor_call (as a ref argument) and by relay_put_object and
 * relay_ctx_return_object (as a contained ref), relay_last_error naming
 * the argument or refs[] index and the ref; nothing is created, held or
 * submitted. The rule: a ref this rank made, holds no more (no hold from
 * submit, put or retain) and released lately (the last 4096 such refs of
 * the rank are remembered) is checked with rank 0 before it is used, one
 * round trip; it is refused only when rank 0 no longer knows it. So a ref
 * released here but kept alive by something else (an object containing
 * it, a pending task's argument, another rank's hold) is used as before,
 * and so are refs read from objects, passed back by tasks or received as
 * task arguments, and actor handles. Refs of other ranks, and own refs
 * released longer ago, are judged where they are used (a task given a
 * ref that no longer exists fails with RELAY_ERR_INVALID_REF, as its
 * result). Inside a task, releases take effect when it returns: its own
 * refs it released are not dead before. */

/* Opaque read-only view of an object obtained with relay_get(). Valid until
 * relay_object_free(); independent of the ref's lifetime. */
typedef struct relay_object *relay_object_t;

/* Task context handed to a running remote function. */
typedef struct relay_ctx relay_ctx_t;

/* A remote function. Return 0 on success, having set every return (see
 * relay_ctx_return); any other value (or a call to relay_ctx_fail, or a
 * return left unset) fails the task and turns its returns into error
 * objects.
 * Causes, as Ray chains them: when the function returns the status of a
 * relay_get, relay_get_many, relay_get_value or relay_wait that failed
 * inside it (the last one that failed), the error reads
 *   "task 'foo' (function 'foo') failed on rank 1: RELAY_ERR_TASK_FAILED
 *    from relay_get <- task 'bar' (function 'bar') failed on rank 2:
 *    division by zero"
 * (the get's own error after " <- "), so a failure passed on from task to
 * task keeps every link down to its root cause. relay_ctx_fail after such
 * a failure appends it to its reason the same way, unless the reason
 * quotes it already. Another non-zero value reads "function returned N",
 * without the cause. An error message is at most RELAY_MAX_ERROR - 1
 * bytes: a longer chain loses links from its middle, replaced by
 * " <- [...] <- ", and keeps its first ~500 bytes (the newest failures)
 * and its end (the root cause). */
typedef int (*relay_fn_t)(relay_ctx_t *ctx);

/* Timeouts are in seconds; RELAY_FOREVER (any negative value) waits forever. */
#define RELAY_FOREVER (-1.0)

#define RELAY_MAX_RETURNS 64   /* returns per task */
#define RELAY_MAX_ARGS 4096    /* arguments per task */
#define RELAY_MAX_NAME 128     /* function name, including the NUL */
#define RELAY_MAX_RESOURCES 16 /* custom resources per rank and per task */
#define RELAY_MAX_ERROR 2048   /* an error message, including the NUL */

/* A named quantity of a custom resource (a license, a local disk, a
 * memory pool...), offered by ranks and asked for by tasks. Quantities are
 * multiples of 1/10000, at most 1e9. Names: 1..RELAY_MAX_NAME-1 printable
 * characters without white space, '=' or ','; "CPU" and "GPU" are taken. */
typedef struct relay_resource {
    const char *name;
    double quantity;
} relay_resource_t;

/* ------------------------------------------------------------------------ */
/* Initialisation                                                            */
/* ------------------------------------------------------------------------ */

/* field_mask bits of relay_config_t: a field is read only when its bit is
 * set, so fields can be added without breaking callers. Environment
 * variables (named beside each field) override both defaults and fields, so
 * job scripts can tune without recompiling. */
enum {
    RELAY_CONFIG_COMM = 1u << 0,
    RELAY_CONFIG_NUM_CPUS = 1u << 1,
    RELAY_CONFIG_DRIVER_WORKERS = 1u << 2,
    RELAY_CONFIG_INLINE_MAX = 1u << 3,
    RELAY_CONFIG_LOG_LEVEL = 1u << 4,
    RELAY_CONFIG_POLL_MAX_US = 1u << 5,
    RELAY_CONFIG_CHUNK_BYTES = 1u << 6,
    RELAY_CONFIG_NUM_GPUS = 1u << 7,
    RELAY_CONFIG_RESOURCES = 1u << 8,
    RELAY_CONFIG_MAX_THREADS = 1u << 9,
    RELAY_CONFIG_STORE_BUDGET = 1u << 10,
    RELAY_CONFIG_SPILL_DIR = 1u << 11,
    RELAY_CONFIG_SPILL_KEEP = 1u << 12,
    RELAY_CONFIG_SPILL_MAX = 1u << 13,
    RELAY_CONFIG_CRASH_REPORT = 1u << 14,
    RELAY_CONFIG_FINALIZE_TIMEOUT = 1u << 15,
    RELAY_CONFIG_SPILL_CLEAN = 1u << 16,
    RELAY_CONFIG_RANK_TIMEOUT = 1u << 17,
    RELAY_CONFIG_TRACE = 1u << 18,
    RELAY_CONFIG_TRACE_BUFFER = 1u << 19,
    RELAY_CONFIG_SUMMARY = 1u << 20,
};

typedef struct relay_config {
    uint64_t field_mask;
    /* Communicator relay duplicates for its own traffic.
     * Default MPI_COMM_WORLD. */
    MPI_Comm comm;
    /* RELAY_NUM_CPUS: CPUs a worker rank offers to tasks (a task holds
     * the CPUs it asked for while it runs). Default: SLURM_CPUS_PER_TASK
     * when Slurm sets it, else the CPUs in the rank's affinity mask.
     * 1..4096. */
    int num_cpus;
    /* RELAY_DRIVER_WORKERS (0/1): rank 0 also hosts workers.
     * Default 0, except when relay runs on a single rank (then always 1). */
    int driver_workers;
    /* RELAY_INLINE_MAX: objects up to this many bytes travel inside
     * messages and live in the directory; larger ones stay on the rank that
     * made them and are fetched peer-to-peer. Default 102400. */
    size_t inline_max;
    /* RELAY_LOG_LEVEL: 0 errors, 1 warnings (default), 2 info, 3 debug. */
    int log_level;
    /* RELAY_POLL_MAX_US: longest sleep of an idle runtime thread between
     * polls of MPI, in microseconds (it spins first, then backs off up to
     * this). Lower: less latency when idle; higher: less idle CPU.
     * Default 1000. 1..1000000. */
    int poll_max_us;
    /* RELAY_CHUNK_BYTES: size of one MPI message of a large-object
     * transfer. Default 64 MiB. 4096..1 GiB. */
    size_t chunk_bytes;
    /* RELAY_NUM_GPUS: GPUs a worker rank offers. Default: the CUDA devices
     * this process sees (CUDA_VISIBLE_DEVICES is honoured), shared
     * round-robin among the worker ranks of the node that see them; 0
     * without CUDA or without a device. An override beyond the rank's real
     * devices adds virtual GPUs (scheduled, never made current), so
     * machines without GPUs can run GPU workloads' scheduling. 0..64. */
    int num_gpus;
    /* RELAY_RESOURCES ("name=qty[,name=qty...]"): custom resources this
     * rank offers, num_resources (0..RELAY_MAX_RESOURCES) of them. The
     * variable replaces the field's list. Default: none. */
    const relay_resource_t *resources;
    size_t num_resources;
    /* RELAY_MAX_THREADS: most worker threads a rank starts. A task blocked
     * in get/wait gives its CPUs to a new thread while the pool is below
     * this; at the limit it keeps them. Default num_cpus + 512;
     * num_cpus..65536. */
    int max_threads;
    /* RELAY_STORE_BUDGET: bytes of large objects (above inline_max) this
     * rank keeps in memory; beyond, the least recently used ones that no
     * task, view or transfer is using are written to the spill file and
     * read back when needed. Default: half the memory the node lets the
     * job use (physical, or the cgroup's limit when lower) divided among
     * its ranks. 0 writes every large object out. Each rank may have its
     * own. */
    size_t store_budget;
    /* RELAY_SPILL_DIR: directory of the spill files, one HDF5 file per
     * rank that spills, made at its first spill:
     *   relay-<host>-<pid>-<job>-<rank>.h5
     * host and pid: the machine and process that write it (host: its
     * name, then '.' and the first 8 hex digits of its boot id, from
     * /proc/sys/kernel/random/boot_id, so that two machines of one name
     * on a shared file system, or one machine rebooted, are told apart);
     * <job>: Slurm's
     * job.step, else rank 0's start time, then rank 0's pid (the same on
     * every rank). Default $TMPDIR, else /tmp. It must exist and be
     * writable: relay_init checks. A file already at that path is never
     * overwritten. When the disk is full (or the quota reached) a spill
     * fails, the object stays in memory (stats: spill_failures counts
     * each failed try), a file relay could not start is removed, and the
     * store tries again at most once a second, so spilling resumes once
     * there is space. While it lives, each rank
     * holds a lock on its file (an fcntl open file description lock).
     * On a shared file system (NFS, Lustre, GPFS) ranks of every host can
     * share the directory: the names differ by host and process. A
     * node-local directory ($TMPDIR on most clusters) is faster and is
     * cleaned with the job. */
    const char *spill_dir;
    /* RELAY_SPILL_KEEP (0/1): leave the spill files at relay_finalize,
     * made read-only (default 0: removed). relay never removes a
     * read-only spill file, RELAY_SPILL_CLEAN included: remove kept files
     * yourself. */
    int spill_keep;
    /* RELAY_SPILL_MAX: most bytes a rank's spill file may hold; a spill
     * that would go beyond fails like a full disk (the object stays in
     * memory). Default 0: no limit but the disk's. */
    size_t spill_max;
    /* RELAY_CRASH_REPORT (0/1): on ranks hosting workers, a fatal signal
     * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) on a thread running a
     * task, actor constructor or method, or exit() called there, prints
     * one line naming the task, its function, the rank, the host and the
     * signal (or exit status), then a backtrace, and sends the line to
     * rank 0, which prints it too ("relay: rank 0 reports: ..."); then the
     * process dies as it would have: the previous handlers (the program's
     * own, installed before relay_init) run, core dumps stay. A handler the
     * program installs after relay_init replaces relay's. _exit() cannot be
     * seen. A second thread crashing while the report is made writes one
     * line of its own. The backtrace is bounded by an alarm of 2 s: should
     * it hang (the crash struck inside the loader or the unwinder), SIGALRM
     * ends the process (no core dump then). On threads running no task, a
     * signal for which the program installed a handler before relay_init
     * goes to that handler silently (a runtime may recover from it); with
     * no handler, relay says "<signal> outside a task". Programs whose
     * runtimes raise these signals on purpose on the threads running tasks
     * (a JVM, Julia's garbage collector, guard-page tricks that fix the
     * fault and return) must set 0: relay would report a crash the program
     * recovers from, and rank 0 would keep it as the rank's fate. Default 1; 0
     * installs nothing. */
    int crash_report;
    /* RELAY_FINALIZE_TIMEOUT: seconds rank 0's relay_finalize waits for
     * the tasks and actor methods still running to return (they are
     * flagged: relay_ctx_cancelled says 1 from the moment it begins), before
     * it abandons them: see relay_finalize. Default 10; 0..1e6 (0: do not
     * wait for running work at all). Checked on every rank (a bad value
     * fails relay_init there); only rank 0's is used. */
    double finalize_timeout;
    /* RELAY_SPILL_CLEAN (0/1): at relay_init the first rank of each host
     * looks in the spill directory for relay-*.h5 files of other runs. 1
     * (default): it removes those that are provably stale: written on this
     * host since it last booted (the name says so) by a process that is
     * gone, with no lock held on them and not read-only (kept), and logs how
     * many (info level). Where flock is emulated with fcntl locks (NFS), the
     * lock cannot be told absent: nothing is removed there (safe), and the
     * files are reported as others. 0: it removes nothing. Either way it
     * warns once per host of the others ("N spill files (X MiB) from other
     * runs in DIR"): files of runs still going, of other hosts (their
     * processes cannot be seen: never removed, even on a shared file system;
     * this host's from before a reboot count as another host's), kept ones,
     * and names of older relay versions. Remove those only when no relay job
     * uses the directory. */
    int spill_clean;
    /* RELAY_RANK_TIMEOUT: seconds without any message from a rank after
     * which it counts as lost (its process died, its node went down).
     * Rank 0 pings every rank each quarter of this, so an idle or busy
     * rank is never silent that long while it lives. On rank 0's side a
     * lost rank's tasks run again elsewhere while they have retries left
     * (the loss counts as an attempt) or fail with RELAY_ERR_RANK_LOST,
     * its actors die, objects only it held fail RELAY_ERR_RANK_LOST, and
     * finalize completes without it; the lost rank itself is told, so a
     * rank that was only stopped that long (swapped out, in a debugger)
     * exits alone when it resumes. Silence counts only from the end of
     * relay_init (all ranks have started), and a message from the rank
     * waiting to be received counts as life. A worker rank that hears
     * nothing from rank 0 for three times this long (rank 0's own thread
     * may stall) logs it and aborts the job (rank 0 holds the scheduler and
     * the directory). Needs an MPI that keeps the survivors
     * running (Open MPI's mpirun --enable-recovery, Slurm's srun
     * --no-kill); otherwise the launcher ends the job first. Default 10;
     * 0 turns detection off. 0..86400. */
    int rank_timeout;
    /* Path of a timeline of the job (RELAY_TRACE): Chrome trace event
     * JSON that ui.perfetto.dev and chrome://tracing open. One process
     * per rank, one track per thread (main, runtime, worker N, actor
     * threads, spill); task runs, actor constructors and methods, gets
     * and waits that blocked inside them, spill reads and writes and rank
     * 0's scheduling turns as slices; each task's time queued (from its
     * submission to its start) and each large object's send and receive
     * as async spans; arrows from a task to the tasks that consumed its
     * results. "%j" in the path becomes the Slurm job id ("nojob"
     * without Slurm); "1" means relay-trace-<job>.json in the current
     * directory (<job>: the Slurm job id, else the start time and rank
     * 0's process id). Rank 0 checks at relay_init that the path's
     * directory exists and is writable (RELAY_ERR_CONFIG otherwise, on
     * every rank); at relay_finalize every rank sends its events to rank
     * 0, which writes the file (under a temporary name, then renamed) and
     * logs where, at info level; a file it cannot write is a warning and
     * finalize still succeeds. With a rank lost rank 0 writes its own
     * events only (otherData.ranks_traced says how many ranks are in).
     * Times are on the job clock (rank 0's, offsets measured at init;
     * otherData.clock_error_us bounds each rank's error). Default NULL:
     * no trace, and each recording point costs one predictable branch.
     * An empty string is refused (RELAY_ERR_CONFIG). */
    const char *trace;
    /* Bytes of events each rank keeps for the trace
     * (RELAY_TRACE_BUFFER, accepts K, M, G suffixes): each thread's
     * buffer grows in chunks up to the rank's total. Once it is full,
     * later events are dropped and counted: the file says how many
     * (otherData.dropped_events, dropped_per_rank) and rank 0 warns at
     * finalize ("trace: N events dropped on rank R; raise
     * RELAY_TRACE_BUFFER"). An event takes about 100 bytes; a task
     * about two (its run, its submission) plus one per four ref
     * arguments. Default 64 MiB. 0..64 GiB. */
    size_t trace_buffer;
    /* RELAY_SUMMARY (0/1): at relay_finalize rank 0 prints to stderr one
     * table of the whole run, after gathering every rank's figures: a
     * title "relay summary: N ranks, T s wall time ..." (T: seconds since
     * rank 0's relay_init), then per rank the tasks, constructors and
     * methods it ran, their run time (busy_s) and their time inside
     * get / wait / get_many once what they asked for was not ready
     * (blocked_s; the first microseconds of spinning before a task gives
     * its CPUs back count too), the bytes of large objects it
     * sent and received (obj_sent, obj_recv) and, apart, of control
     * messages (msg_sent, msg_recv), the objects it wrote to its spill
     * file and read back (spilled, restored) and its store's peak of
     * in-memory object bytes (peak_store), with a line "all" (sums; the
     * highest peak); then per function (and per actor "class.method",
     * "class.<init>" for constructors) the runs, total time, mean and
     * longest run and failed runs (an error returned or relay_ctx_fail;
     * a crash is not counted), longest total first, with a line
     * "(total)". Rank 0's setting decides for every rank. Nothing is
     * printed after a rank was lost (the gather would wait for it), and
     * the per-function counts are kept only while it is on; the per-rank
     * counters are always kept. Default 0. */
    int summary;
} relay_config_t;

/* Register a remote function under a name, on every rank (the same binary
 * runs everywhere, so the order of registrations does not matter). Register
 * before relay_init() so that no task can reach a rank before its function
 * is known there. Registering the same function twice is harmless.
 * [IN] name: 1..RELAY_MAX_NAME-1 characters. [IN] fn: non-NULL.
 * Errors: INVALID_ARG, EXISTS (another function has this name), NO_MEMORY.
 * Any thread, before or after relay_init(). */
RELAY_API int relay_register(const char *name, relay_fn_t fn);

/* Collective over the communicator. Initialises MPI (MPI_THREAD_MULTIPLE)
 * if the program has not; if it has, MPI must provide MPI_THREAD_MULTIPLE.
 * [IN] argc, argv: may be NULL. [IN] config: NULL for defaults.
 * Errors: ALREADY_INITIALIZED, CONFIG (a bad field or RELAY_* variable,
 * named in relay_last_error), MPI, NO_MEMORY. Main thread only. */
RELAY_API int relay_init(int *argc, char ***argv, const relay_config_t *config);

/* Collective. On rank 0 (the driver) it shuts the cluster down: tasks not
 * yet started are dropped, blocked gets anywhere return RELAY_ERR_SHUTDOWN,
 * and the tasks and actor methods still running are asked to end:
 * relay_ctx_cancelled returns 1 in them from then on, so a long one that
 * polls it can stop early; the destructors of the actors still alive run.
 * Rank 0 waits for all this at most finalize_timeout seconds
 * (RELAY_FINALIZE_TIMEOUT, default 10); then it logs at error level each
 * task or method that started and still runs ("relay_finalize: abandoned
 * task 'x' (function 'f') still running on rank 2 after 10.0 s"), tells
 * every rank to finish and returns RELAY_ERR_TIMEOUT, relay_last_error
 * naming them, or, when it knows of none (a destructor that does not
 * return), the ranks that did not acknowledge ("rank 2 did not acknowledge
 * the shutdown within 10.0 s"). Other ranks return once the driver has
 * called relay_finalize and this rank's running tasks, methods and
 * destructors have returned, or rank 0 gave up on them: then they too
 * return RELAY_ERR_TIMEOUT naming what they abandoned ("destructor of
 * actor 'A'" for a destructor). Abandoned work is left to run on its
 * thread, which is neither joined nor freed (its memory stays allocated
 * until the process ends; the destructor of an actor whose method was
 * abandoned does not run); relay calls it makes from then on, the
 * relay_ctx_* calls on its ctx that return a status included, return
 * RELAY_ERR_NOT_INITIALIZED or RELAY_ERR_SHUTDOWN, and what it returns is
 * dropped. Either way relay is finalized when the call returns
 * (RELAY_ERR_TIMEOUT included): relay_init may be called again.
 * Finalises MPI only if relay_init initialised it, and not after a rank
 * was lost (see rank_timeout): Open MPI's MPI_Finalize may then wait
 * forever for the dead rank. On the survivors of a loss it completes
 * without the lost ranks.
 * Errors: NOT_INITIALIZED, WRONG_THREAD (called on a thread other than the
 * one that called relay_init: from a task, an actor's constructor or
 * method, or another thread; it returns at once, naming the task, and
 * changes nothing), TIMEOUT (work abandoned, see above). Only the thread
 * that called relay_init. */
RELAY_API int relay_finalize(void);

/* [OUT] rank_p / size_p: this process's rank and the number of ranks in
 * relay's communicator. Errors: NOT_INITIALIZED, INVALID_ARG. */
RELAY_API int relay_rank(int *rank_p);
RELAY_API int relay_size(int *size_p);

/* ------------------------------------------------------------------------ */
/* Tasks                                                                     */
/* ------------------------------------------------------------------------ */

typedef enum relay_arg_kind { RELAY_ARG_VALUE = 1, RELAY_ARG_REF = 2 } relay_arg_kind_t;

/* One task argument: bytes copied at submission, or a ref resolved to its
 * object's bytes before the function runs. */
typedef struct relay_arg {
    relay_arg_kind_t kind;
    const void *data;
    size_t size;
    relay_ref_t ref;
} relay_arg_t;

static inline relay_arg_t relay_arg_value(const void *data, size_t size)
{
    relay_arg_t a = {RELAY_ARG_VALUE, data, size, {0}};
    return a;
}

static inline relay_arg_t relay_arg_ref(relay_ref_t ref)
{
    relay_arg_t a = {RELAY_ARG_REF, NULL, 0, ref};
    return a;
}

enum {
    RELAY_TASK_OPT_NUM_RETURNS = 1u << 0,
    RELAY_TASK_OPT_MAX_RETRIES = 1u << 1,
    RELAY_TASK_OPT_NAME = 1u << 2,
    RELAY_TASK_OPT_NUM_CPUS = 1u << 3,
    RELAY_TASK_OPT_NUM_GPUS = 1u << 4,
    RELAY_TASK_OPT_RESOURCES = 1u << 5,
};

/* Options of a task. Resources: the task runs on a rank that offers all it
 * asks for, and holds them while it runs. While it is blocked in
 * relay_get / relay_wait its CPUs go back to the rank (another task may
 * start on them) and are taken back before the call returns; its GPUs and
 * custom resources stay with it, and its GPU stays the current device of
 * its thread. */
typedef struct relay_task_opts {
    uint64_t field_mask;
    /* 0..RELAY_MAX_RETURNS, default 1. 0 (as Ray's num_returns=0): a task
     * run for its side effects, of which nothing can be got. It counts as
     * pending until it has run (tasks_pending), and is retried, placed
     * ahead of its inputs and checked for deadlocks like any task; its
     * failure, which nobody can get, is logged on rank 0 (after its last
     * attempt) as "task '<name>' (function '<fn>', no returns) failed:
     * <why>", the why naming the rank it failed on, at error level; when
     * the failure was asked for (relay_cancel reached it: "... was
     * cancelled: <why>"; or relay_actor_kill killed its actor) at info
     * level. Having no ref, it cannot be cancelled directly, only through
     * a recursive relay_cancel of a task that submitted it. relay_finalize
     * abandons it unfinished, as any task. */
    int num_returns;
    /* Times a failed task is run again, 0..100, default 0 (a task failed
     * by RELAY_ERR_DEADLOCK or RELAY_ERR_SHUTDOWN is not run again). */
    int max_retries;
    /* num_returns or max_retries outside their range: RELAY_ERR_OUT_OF_RANGE;
     * an empty or too long name: RELAY_ERR_INVALID_ARG. */
    const char *name; /* name in errors and traces, default the function's */
    double num_cpus;  /* CPUs, default 1; 0 or more, a multiple of 1/10000 */
    /* GPUs, default 0: a fraction of one GPU (0 < x < 1, shared with other
     * fractional tasks on the same device) or a whole number of GPUs. */
    double num_gpus;
    /* Custom resources the task asks for (distinct names, quantities > 0),
     * num_resources of them, 0..RELAY_MAX_RESOURCES. */
    const relay_resource_t *resources;
    size_t num_resources;
    /* A bad quantity or name is RELAY_ERR_INVALID_ARG; a request that no
     * rank of the job offers (counting every rank's full capacity) is
     * RELAY_ERR_INFEASIBLE at submission, naming what was asked for and
     * what the ranks offer. */
} relay_task_opts_t;

/* Submit a task: run the function registered as fn with args on some
 * worker, once every ref argument's object exists.
 * [IN] fn: registered name. [IN] args: nargs arguments (NULL if 0). Value
 * arguments are copied before the call returns. [IN] opts: NULL for
 * defaults. [OUT] returns_p: num_returns refs, held by the caller until
 * released; may be NULL when num_returns is 0.
 * Errors: INVALID_ARG, UNKNOWN_FUNCTION, OUT_OF_RANGE (num_returns, args),
 * INVALID_REF (a null ref argument, or one this rank made that was never
 * made or was released and is gone: see "Dead own refs"), INFEASIBLE (no rank offers the resources
 * asked for), NOT_INITIALIZED, SHUTDOWN, NO_MEMORY. A ref argument unknown to the directory makes
 * the task fail with RELAY_ERR_INVALID_REF as its result. A task that can never get its resources
 * (or a worker thread) because the tasks holding them are blocked waiting for it, directly or
 * through other tasks, fails with RELAY_ERR_DEADLOCK as its result instead of waiting forever, so
 * the blocked get returns that (a get with a timeout counts as blocked). Order, as in Ray: tasks
 * asking for the same resources (num_cpus, num_gpus, resources) start in the order they became
 * ready, per rank; a task that some rank can run now never waits behind tasks asking for other
 * resources that no rank can give them yet (a 1-CPU task behind GPU or license tasks waiting for
 * theirs; a 0-CPU task, which a rank starts at once on a thread of its own whatever its CPUs do,
 * behind 1-CPU tasks). Deviation, against starvation (Ray has no such guard): a task overtaken that
 * way (by tasks started, or sent to a rank to wait there for their inputs) for about four average
 * task run times (at least 0.1 s) reserves what it is short of on the ranks that could run it;
 * tasks of other shapes submitted after it then get none of that there
 * until it has started: none starts there, none is sent there to wait
 * for its inputs, none queued on another rank is moved there to a free
 * CPU. Tasks sent to wait for their inputs before the reservation began
 * keep what they hold and start when their inputs arrive. While tasks
 * blocked in get/wait keep resources (GPUs, custom resources, CPUs at
 * max_threads, an actor's), or tasks waiting for their inputs on a rank
 * hold custom resources, ready tasks are not held back nor kept from a
 * free CPU (a wait added for the reservation could then close a cycle),
 * but still none is sent to wait for its inputs into the reservation (it
 * waits for them unsent instead, which only delays it). On a rank, tasks
 * asking for CPUs start in the order they arrived there, a bigger one
 * holding back smaller ones behind it (rank 0 sends a rank no more than
 * its CPUs and a short queue allow). */
RELAY_API int relay_submit(const char *fn, const relay_arg_t *args, size_t nargs,
                           const relay_task_opts_t *opts, relay_ref_t *returns_p);

/* Cancel the task (or actor call) whose return ref is, as Ray's
 * ray.cancel(ref, force, recursive). Returns once rank 0 has taken the
 * request; the outcome shows in the task's returns.
 * - Not started yet (waiting at rank 0, or sent to a rank and still
 *   queued or waiting for its inputs there): removed, it holds nothing
 *   any more, is not retried, and its returns fail with
 *   RELAY_ERR_CANCELLED ("task '<name>' (function '<fn>') was cancelled
 *   ..."). Tasks that take them as arguments then fail with
 *   RELAY_ERR_TASK_FAILED, their message naming that cancellation (as for
 *   any failed argument).
 * - Running: relay cannot stop a thread inside a function, so it asks:
 *   relay_ctx_cancelled(ctx) returns 1 from then on, and the task's
 *   relay_get / relay_get_many / relay_get_value / relay_wait calls,
 *   blocked ones included, return RELAY_ERR_CANCELLED promptly (like
 *   Ray's TaskCancelledError): a blocked one takes its CPUs back at once
 *   even if another task took them meanwhile, and the rank runs over its
 *   CPUs until the cancelled task ends (no task asking for CPUs starts
 *   there meanwhile). Whatever the function then returns, its
 *   returns fail with RELAY_ERR_CANCELLED and it is not retried. A task
 *   whose completion was already on its way when the cancel reached its
 *   rank keeps its result (the cancel came too late, as for a finished
 *   one).
 * - Finished or failed: nothing happens, RELAY_OK.
 * - Actor calls: one not started is removed as above (its returns fail
 *   with RELAY_ERR_CANCELLED; the actor's later calls still run in
 *   order); a running call is left alone (RELAY_OK) and its flag is not
 *   set, but with recursive the tasks and calls it submitted that rank 0
 *   knows of and that have not finished are cancelled all the same (not
 *   those it submits later, nor those still on their way to rank 0).
 * [IN] force: Ray kills the worker process; relay's tasks share their
 *   rank's process, so force means the same as 0 for tasks (not started:
 *   removed; running: flagged). For an actor call force is refused with
 *   RELAY_ERR_INVALID_ARG, as Ray refuses it for actor tasks.
 * [IN] recursive: also cancel, the same way, the tasks and actor calls
 *   the task submitted that have not finished, transitively (Ray's
 *   default is recursive=True), those submitted by its children that
 *   finished included. A task cancelled this way (not a running actor
 *   call) also has the tasks it submits from then on, or that were on
 *   their way, cancelled as they reach rank 0: they never run, and fail
 *   with RELAY_ERR_CANCELLED naming it. Its actor calls still run, so a
 *   cancelled task can report to an actor as it ends. Actors it created
 *   are not killed. Tasks submitted with num_returns 0 have no ref: this
 *   is the only way to cancel them. For the pending tasks whose submitter
 *   finished, rank 0 keeps a line from that submitter to its nearest
 *   unfinished ancestor: never more lines than such tasks, however long
 *   the chain of finished tasks above them. A recursive cancel looks once
 *   at each pending task and line, whatever the depth.
 * Errors: INVALID_ARG (a ref made by relay_put; force on an actor call),
 * INVALID_REF (a ref no one made, or released everywhere),
 * NOT_INITIALIZED, SHUTDOWN. */
RELAY_API int relay_cancel(relay_ref_t ref, int force, int recursive);

/* ------------------------------------------------------------------------ */
/* Actors                                                                    */
/* ------------------------------------------------------------------------ */

/* An actor is an instance of a registered class that lives on one rank and
 * keeps its state between method calls. Its handle is a plain value: pass
 * it to tasks and to other actors' methods as a value argument
 * (relay_arg_value(&actor, sizeof actor)), or in the program's own MPI
 * messages, and call it from any rank. */
typedef struct relay_actor {
    uint64_t id;
    uint64_t class_hash; /* lets callers check method names locally */
} relay_actor_t;

#ifdef __cplusplus
#define RELAY_ACTOR_NULL (relay_actor_t{})
#else
#define RELAY_ACTOR_NULL ((relay_actor_t){0, 0})
#endif

/* Constructor: reads its arguments from ctx like a task (relay_ctx_arg...)
 * and sets *state_p (NULL is fine). Non-zero (or relay_ctx_fail) fails the
 * creation: the actor is dead and its calls fail with RELAY_ERR_ACTOR_DEAD
 * naming the reason; the destructor does not run, so a failing constructor
 * frees what it allocated. */
typedef int (*relay_actor_init_fn)(relay_ctx_t *ctx, void **state_p);
/* Method: arguments and returns through ctx like a task; state is the
 * constructor's. Non-zero (or relay_ctx_fail, or a return left unset)
 * fails this call only, with its chain of causes as a task's: its returns
 * become error objects and the actor lives on. */
typedef int (*relay_method_fn)(relay_ctx_t *ctx, void *state);
/* Destructor: runs once, on the actor's rank, when the actor is killed or
 * at relay_finalize. Refs are the actor's when its constructor, a method
 * or the destructor took them (relay_put, relay_retain, the returns of
 * relay_submit and relay_actor_call): they stay held until released, and
 * those still held when the actor dies (killed, at relay_finalize, or its
 * constructor failed) are released by relay after the destructor ran, as
 * Ray drops an actor's references with it. A destructor that only frees
 * its state leaks nothing. (A hold taken in a plain task is its rank's:
 * it stays after the task returns, until released on that rank.) Holds
 * are counted per rank: a release on another thread of the actor's rank
 * drops one of the rank's holds on that ref, which is one of the actor's
 * only when the rank would otherwise hold fewer than its actors took
 * (that one is then not released again when the actor dies). */
typedef void (*relay_actor_fini_fn)(void *state);

#define RELAY_ANY_ARGS (-1)
#define RELAY_MAX_METHODS 256
#define RELAY_MAX_CONCURRENCY 1024

typedef struct relay_method {
    const char *name; /* 1..RELAY_MAX_NAME-1 characters, distinct in the class */
    relay_method_fn fn;
    int num_args; /* arguments it takes, or RELAY_ANY_ARGS */
} relay_method_t;

typedef struct relay_actor_class {
    relay_actor_init_fn init; /* NULL: state is NULL */
    int init_num_args;        /* or RELAY_ANY_ARGS */
    relay_actor_fini_fn fini; /* may be NULL */
    const relay_method_t *methods;
    size_t num_methods; /* 1..RELAY_MAX_METHODS */
} relay_actor_class_t;

/* Register an actor class on every rank, like relay_register (the order
 * does not matter). The class and its method table are copied; names are
 * shared with remote functions' (a class and a function cannot have the
 * same name). Registering the same class again is harmless.
 * Errors: INVALID_ARG (NULL, bad names, duplicate methods, counts out of
 * range), EXISTS (another function or class has this name), NO_MEMORY. */
RELAY_API int relay_register_actor(const char *class_name, const relay_actor_class_t *cls);

enum {
    RELAY_ACTOR_OPT_NUM_CPUS = 1u << 0,
    RELAY_ACTOR_OPT_NUM_GPUS = 1u << 1,
    RELAY_ACTOR_OPT_RESOURCES = 1u << 2,
    RELAY_ACTOR_OPT_MAX_CONCURRENCY = 1u << 3,
    RELAY_ACTOR_OPT_NAME = 1u << 4,
};

/* Options of an actor. Its resources are placed like a task's, on a rank
 * where they are free now (never queued behind running tasks), and held
 * for its whole life (a GPU actor keeps its device, current on the threads
 * that run its methods); a method blocked in get/wait gives the actor's
 * CPUs back to the rank while every running method of the actor is
 * blocked, and keeps its GPUs. CPUs, as in Ray: without
 * RELAY_ACTOR_OPT_NUM_CPUS an actor needs 1 CPU free to be placed (its
 * constructor runs on it) and holds none once built, so any number of
 * default actors live on a rank, its CPUs left to tasks; with it, the
 * actor holds num_cpus for its life (0 too: placed anywhere, holds none).
 * Methods run on the actor's own threads either way, never the pool's. */
typedef struct relay_actor_opts {
    uint64_t field_mask;
    /* Default: 1 to be placed, 0 held while it lives (see above). */
    double num_cpus;
    double num_gpus; /* default 0; as for tasks */
    const relay_resource_t *resources;
    size_t num_resources;
    /* Methods running at once: 1 (default) runs them strictly one after
     * another; up to RELAY_MAX_CONCURRENCY threads otherwise (calls still
     * start in the order each caller made them). The actor's threads come
     * in addition to the rank's RELAY_MAX_THREADS worker threads. */
    int max_concurrency;
    /* A name unique in the job, for relay_actor_lookup from any rank; freed
     * when the actor dies. 1..RELAY_MAX_NAME-1 characters. */
    const char *name;
} relay_actor_opts_t;

/* Create an actor of class cls_name with constructor arguments, placed on
 * a rank that offers its resources. Returns at once (a named actor first
 * waits for rank 0 to take the name); calls made meanwhile run once the
 * constructor has. [OUT] actor_p. Errors: INVALID_ARG, UNKNOWN_FUNCTION
 * (no such class), OUT_OF_RANGE (argument count, max_concurrency),
 * INFEASIBLE, EXISTS (the name is taken), NOT_INITIALIZED, SHUTDOWN,
 * NO_MEMORY. */
RELAY_API int relay_actor_create(const char *cls_name, const relay_arg_t *args, size_t nargs,
                                 const relay_actor_opts_t *opts, relay_actor_t *actor_p);

/* Call a method. Calls made by one caller start in the order it made them
 * (with max_concurrency 1 each runs after the previous has returned); the
 * calls of different callers are independent: one waiting for its ref
 * arguments holds back only its own caller's later calls. A caller, as
 * Ray's handles are per worker: a running task (each its own), an actor
 * (its constructor and methods together), or a rank's threads outside
 * tasks (the driver's main thread and any others, together). Results are
 * objects like a task's. opts: NULL, or relay_task_opts_t with only
 * RELAY_TASK_OPT_NUM_RETURNS and RELAY_TASK_OPT_NAME (resources belong to
 * the actor). [OUT] returns_p: num_returns refs, held by the caller
 * (inside an actor: by the actor, see relay_actor_fini_fn); may be NULL
 * when num_returns is 0 (a call run for its side effects, its failure
 * logged on rank 0 as a task's). Errors: INVALID_ARG (a null handle, other
 * option bits...), INVALID_REF (a handle this rank never made),
 * UNKNOWN_FUNCTION (the class has no such method), OUT_OF_RANGE (argument
 * count, num_returns), NOT_INITIALIZED, SHUTDOWN, NO_MEMORY. A call to a
 * dead actor fails as its result, with RELAY_ERR_ACTOR_DEAD; to an actor
 * rank 0 does not know, with RELAY_ERR_INVALID_REF. */
RELAY_API int relay_actor_call(relay_actor_t actor, const char *method, const relay_arg_t *args,
                               size_t nargs, const relay_task_opts_t *opts, relay_ref_t *returns_p);

/* [OUT] actor_p: the live actor named name. Errors: INVALID_ARG,
 * NOT_FOUND, NOT_INITIALIZED, SHUTDOWN. */
RELAY_API int relay_actor_lookup(const char *name, relay_actor_t *actor_p);

/* Kill an actor: its calls not yet started, and calls made later, fail
 * with RELAY_ERR_ACTOR_DEAD; a running method finishes (relay_ctx_cancelled
 * returns 1 inside it from then on, so a long one can stop early; its
 * gets are not interrupted and its returns stand), then the destructor
 * runs and the actor's resources are freed. Killing a dead
 * actor does nothing. Returns once rank 0 has taken the request (rank 0
 * remembers dead actors, so their calls keep failing that way). Errors:
 * INVALID_ARG (a null handle), INVALID_REF (a handle no rank made),
 * NOT_INITIALIZED, SHUTDOWN. */
RELAY_API int relay_actor_kill(relay_actor_t actor);

/* ------------------------------------------------------------------------ */
/* Objects                                                                   */
/* ------------------------------------------------------------------------ */

/* Store a copy of size bytes as an immutable object. [OUT] ref_p: held by
 * the caller until released. Errors: INVALID_ARG (data NULL with size > 0,
 * ref_p NULL), NOT_INITIALIZED, SHUTDOWN, NO_MEMORY. An object larger than the store budget goes
 * to the spill file directly from data, without a copy in memory. */
RELAY_API int relay_put(const void *data, size_t size, relay_ref_t *ref_p);

/* Element types of typed arrays. */
typedef enum relay_dtype {
    RELAY_DTYPE_BYTES = 0, /* not an array: plain bytes */
    RELAY_INT8,
    RELAY_UINT8,
    RELAY_INT16,
    RELAY_UINT16,
    RELAY_INT32,
    RELAY_UINT32,
    RELAY_INT64,
    RELAY_UINT64,
    RELAY_FLOAT32,
    RELAY_FLOAT64,
} relay_dtype_t;

#define RELAY_MAX_DIMS 8

/* Bytes of one element of dtype (0 for RELAY_DTYPE_BYTES or a bad value). */
RELAY_API size_t relay_dtype_size(relay_dtype_t dtype);

/* Put a C-ordered (row-major) array of ndims dimensions dims of dtype
 * elements. It is an object like any other (its bytes are the elements);
 * views of it know its type and shape, and it spills as a typed HDF5
 * dataset of that shape. Errors: as relay_put, plus INVALID_ARG (a bad
 * dtype, ndims outside 1..RELAY_MAX_DIMS, NULL dims), OUT_OF_RANGE (the
 * size overflows). */
RELAY_API int relay_put_array(const void *data, relay_dtype_t dtype, int ndims,
                              const uint64_t *dims, relay_ref_t *ref_p);

/* Like relay_put, for an object that also contains refs (nrefs of them):
 * they stay alive as long as the object does. Errors: as relay_put, plus
 * INVALID_ARG (refs NULL with nrefs > 0), INVALID_REF (a null ref, or one
 * this rank made that was never made or was released and is gone: see
 * "Dead own refs"; relay_last_error names refs[i]), OUT_OF_RANGE
 * (nrefs > UINT32_MAX). */
RELAY_API int relay_put_object(const void *data, size_t size, const relay_ref_t *refs, size_t nrefs,
                               relay_ref_t *ref_p);

/* Wait for an object and return a view of it.
 * [IN] timeout_s: seconds; RELAY_FOREVER (or any negative or infinite
 * value) waits without limit; 0 takes the object only if it is ready now
 * (asking rank 0 and fetching its bytes still take their round trips);
 * NaN is INVALID_ARG.
 * [OUT] obj_p: free with relay_object_free. On ERR_TASK_FAILED and
 * ERR_DEADLOCK (and ERR_INVALID_REF as the value of a failed task) *obj_p
 * is still set to an error object whose relay_object_error() gives the
 * message.
 * Errors: INVALID_ARG, INVALID_REF, TIMEOUT, TASK_FAILED, DEADLOCK,
 * CANCELLED (the object's task was cancelled: *obj_p is set as for
 * TASK_FAILED; or, inside a task that relay_cancel reached, at once and
 * with *obj_p set to NULL, relay_last_error() saying "the task calling it
 * was cancelled"), SHUTDOWN, NOT_INITIALIZED, NO_MEMORY, MPI. Inside a task, a get that
 * still waits after a short spin (about 50 us) gives the task's CPUs back
 * to its rank until it returns, unless the rank is at max_threads; its
 * GPUs and custom resources stay with it. */
RELAY_API int relay_get(relay_ref_t ref, double timeout_s, relay_object_t *obj_p);

/* Get n objects (a ref may appear more than once). It returns as soon as
 * one of them is known to have failed, without waiting for the others, as
 * Ray's get raises a task's error at once.
 * [OUT] objs_p: n entries. None is set when the status is INVALID_ARG,
 * INVALID_REF (a ref that names no object), TIMEOUT, SHUTDOWN,
 * NOT_INITIALIZED or NO_MEMORY. On RELAY_OK all n are views. On an
 * object's error (TASK_FAILED, DEADLOCK, ...: the first in input order
 * among the objects in, its message in relay_last_error) every entry is
 * set: a view for each object that was in by then, the failed ones
 * included (as error objects), NULL for the others, whose requests are
 * cancelled. Free each non-NULL entry with relay_object_free. When every
 * object is in when the call returns, all n are views, as before. On
 * CANCELLED because the calling task was cancelled (see relay_get) every
 * entry is NULL; an object's CANCELLED sets them as any object's error.
 * timeout_s as in relay_get; with 0, a failed object wins over one not
 * ready. */
RELAY_API int relay_get_many(const relay_ref_t *refs, size_t n, double timeout_s,
                             relay_object_t *objs_p);

/* Get an object of exactly size bytes and copy it into buf.
 * Errors: as relay_get, plus SIZE_MISMATCH (buf untouched). */
RELAY_API int relay_get_value(relay_ref_t ref, void *buf, size_t size, double timeout_s);

/* Wait until num_ready of the n refs are ready (done or failed) or the
 * timeout expires, as Ray's wait(refs, num_returns=num_ready): exactly
 * num_ready flags are set on success, on the first num_ready refs in input
 * order among those ready when it returns (a loop "wait for one, handle
 * it, wait for the rest" sees each ref once). On ERR_TIMEOUT the flags are
 * those of the refs ready by then, fewer than num_ready. To know which
 * refs are ready first, a wait for fewer than n asks rank 0 which are ready
 * now before it waits for more: one round trip more than a wait for all.
 * num_ready 0 (a deviation: Ray wants at least 1) is a poll that does not
 * wait: it flags every ref ready now, however many, so a program can see
 * all that is done in one call; timeout_s does not matter then.
 * [IN] refs: n distinct refs; a repeated one is INVALID_ARG (as in Ray),
 * naming both indices in relay_last_error, with nothing waited for and the
 * outputs untouched.
 * [OUT] ready_p: n flags (1 ready), may be NULL.
 * [OUT] num_ready_p: the number of flags set, may be NULL. Both are written
 * also on ERR_TIMEOUT, on ERR_INVALID_REF (the unknown ref counts as not
 * ready) and on ERR_CANCELLED (the refs known ready when the cancel came;
 * none when the task was cancelled before the call). timeout_s as in
 * relay_get. Errors: INVALID_ARG (num_ready > n, NaN timeout, a repeated
 * ref), INVALID_REF, TIMEOUT, CANCELLED (inside a task relay_cancel
 * reached), SHUTDOWN, NOT_INITIALIZED, NO_MEMORY. */
RELAY_API int relay_wait(const relay_ref_t *refs, size_t n, size_t num_ready, double timeout_s,
                         int *ready_p, size_t *num_ready_p);

/* Drop one hold on a ref this rank holds (from submit, put or retain).
 * The object is freed everywhere once no rank holds it, no pending task
 * needs it and no live object contains it. Errors: INVALID_REF (this rank
 * holds no such ref: none of the n is dropped then), INVALID_ARG (refs
 * NULL with n > 0), NOT_INITIALIZED. */
RELAY_API int relay_release(relay_ref_t ref);
RELAY_API int relay_release_many(const relay_ref_t *refs, size_t n);

/* Add a hold: e.g. on a ref read from an object, to keep it past the
 * container's release. Errors: INVALID_REF, NOT_INITIALIZED, SHUTDOWN. */
RELAY_API int relay_retain(relay_ref_t ref);

/* Accessors of a view. They never fail on a valid view; NULL gives
 * NULL/0. */
RELAY_API const void *relay_object_data(relay_object_t obj);
RELAY_API size_t relay_object_size(relay_object_t obj);
RELAY_API size_t relay_object_num_refs(relay_object_t obj);
/* [OUT] ref_p: the i-th contained ref (borrowed: valid while the container
 * is alive; relay_retain it to keep it longer). Errors: INVALID_ARG,
 * OUT_OF_RANGE. */
RELAY_API int relay_object_ref(relay_object_t obj, size_t i, relay_ref_t *ref_p);
/* The type and shape of a view: RELAY_DTYPE_BYTES, 1, {size} for plain
 * bytes. [OUT] dims: RELAY_MAX_DIMS entries (may be NULL), dtype_p and
 * ndims_p (may be NULL). Errors: INVALID_ARG (NULL obj). */
RELAY_API int relay_object_array(relay_object_t obj, relay_dtype_t *dtype_p, int *ndims_p,
                                 uint64_t *dims);

/* Write a view into the HDF5 file path (created if it does not exist) as
 * the dataset named dataset: an array as a dataset of its type and shape,
 * plain bytes as a 1-D uint8 dataset. Any thread. Errors: INVALID_ARG
 * (NULL, an error object, a bad dataset name), EXISTS (the dataset is
 * there), IO (the file cannot be created, opened or written),
 * NOT_INITIALIZED. */
RELAY_API int relay_object_save(relay_object_t obj, const char *path, const char *dataset);

/* RELAY_OK, or the error status of an error object; INVALID_ARG for NULL
 * (with relay_last_error saying so). */
RELAY_API int relay_object_status(relay_object_t obj);
/* The error message of an error object, NULL otherwise. */
RELAY_API const char *relay_object_error(relay_object_t obj);
/* Release a view. Errors: INVALID_ARG (NULL). */
RELAY_API int relay_object_free(relay_object_t obj);

/* ------------------------------------------------------------------------ */
/* Inside a running task (the ctx passed to the function)                    */
/* ------------------------------------------------------------------------ */

/* The calls below that return a status return RELAY_ERR_NOT_INITIALIZED
 * for a non-NULL ctx once relay is finalized on the task's rank (a task
 * relay_finalize abandoned), whatever their other arguments. */

/* Number of arguments; 0 for a NULL ctx. */
RELAY_API size_t relay_ctx_num_args(const relay_ctx_t *ctx);
/* Number of returns the caller asked for; 0 for a NULL ctx. */
RELAY_API size_t relay_ctx_num_returns(const relay_ctx_t *ctx);

/* [OUT] data_p, size_p: bytes of argument i (a ref argument resolved to its
 * object), valid until the function returns. Errors: INVALID_ARG (ctx or an
 * output NULL), OUT_OF_RANGE. A ctx is valid only on its task's thread
 * while the function runs. */
RELAY_API int relay_ctx_arg(relay_ctx_t *ctx, size_t i, const void **data_p, size_t *size_p);

/* [OUT] obj_p: argument i as a view (for the refs it contains), owned by
 * the task: do not free it. Errors: INVALID_ARG, OUT_OF_RANGE. */
RELAY_API int relay_ctx_arg_object(relay_ctx_t *ctx, size_t i, relay_object_t *obj_p);

/* [OUT] ref_p: the ref argument i was passed as. Errors: INVALID_ARG (it
 * was passed by value), OUT_OF_RANGE. */
RELAY_API int relay_ctx_arg_ref(relay_ctx_t *ctx, size_t i, relay_ref_t *ref_p);

/* Set return i to a copy of size bytes (size 0 makes an empty object).
 * Setting it again replaces it. Every return must be set before the
 * function returns 0: one left unset fails the whole task, the returns it
 * set included, with an error naming the task, its function, the rank and
 * what is missing ("task 'f' (function 'f') failed on rank 1: it did not
 * set returns 0, 2 of 3"). Ray fails the whole task the same way when a
 * function returns fewer values than num_returns: the task did not do
 * what it promised, so none of its values is trusted (and a retry, when
 * max_retries allows, runs it again). Methods alike. Errors: INVALID_ARG,
 * OUT_OF_RANGE, NO_MEMORY. */
RELAY_API int relay_ctx_return(relay_ctx_t *ctx, size_t i, const void *data, size_t size);

/* Set return i to an object with bytes and contained refs. Refs the task
 * holds may be released right after this call: releases made inside a task
 * take effect after its returns are recorded. Errors: as relay_ctx_return,
 * plus INVALID_ARG (refs NULL with nrefs > 0), INVALID_REF (a null ref, a
 * rank that does not exist, or a ref of this rank never made or released
 * and gone: see "Dead own refs"; relay_last_error names refs[i]); the
 * return is left as it was. */
RELAY_API int relay_ctx_return_object(relay_ctx_t *ctx, size_t i, const void *data, size_t size,
                                      const relay_ref_t *refs, size_t nrefs);

/* Set return i to a copy of a typed array (as relay_put_array). Errors:
 * as relay_ctx_return, plus relay_put_array's INVALID_ARG and
 * OUT_OF_RANGE. */
RELAY_API int relay_ctx_return_array(relay_ctx_t *ctx, size_t i, const void *data,
                                     relay_dtype_t dtype, int ndims, const uint64_t *dims);

/* Set return i to a new typed array of dtype and shape dims whose elements
 * the task writes itself: [OUT] data_p gets its buffer (64-byte aligned,
 * contents undefined), to fill before the function returns. It saves the
 * copy relay_ctx_return_array makes (a task that updates a tile copies its
 * input tile there and works in place). The buffer is the task's until the
 * function returns or return i is set again; touching it after is an
 * error. Errors: as relay_ctx_return_array, plus INVALID_ARG (data_p
 * NULL); on error *data_p is untouched and return i as it was. */
RELAY_API int relay_ctx_return_array_buffer(relay_ctx_t *ctx, size_t i, relay_dtype_t dtype,
                                            int ndims, const uint64_t *dims, void **data_p);

/* Fail the task with a printf-style reason; its returns become error
 * objects naming the function, the rank and the reason (followed by the
 * cause when a get or wait failed in the task before: see relay_fn_t).
 * The function should then return. Errors: INVALID_ARG. */
RELAY_API int relay_ctx_fail(relay_ctx_t *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* [OUT] the rank running the task / the task's id. Errors: INVALID_ARG. */
RELAY_API int relay_ctx_rank(const relay_ctx_t *ctx, int *rank_p);
RELAY_API int relay_ctx_task_id(const relay_ctx_t *ctx, uint64_t *task_id_p);

/* 1 once relay_cancel reached the running task (see relay_cancel), or,
 * in an actor's method, once its actor was killed (relay_actor_kill), or
 * once rank 0's relay_finalize began (it waits for running work only
 * finalize_timeout); 0 otherwise and for a NULL ctx. Cheap: poll it in long loops. Any thread
 * while the function runs. */
RELAY_API int relay_ctx_cancelled(const relay_ctx_t *ctx);

/* Inside an actor's constructor or method: [OUT] actor_p, the actor's own
 * handle. Errors: INVALID_ARG, NOT_IN_TASK (a plain task). */
RELAY_API int relay_ctx_actor(const relay_ctx_t *ctx, relay_actor_t *actor_p);

/* The GPUs assigned to the task, as CUDA device ordinals of this process
 * (the first is the current device of the task's thread). Ids at or above
 * the number of devices CUDA shows are virtual GPUs (RELAY_NUM_GPUS).
 * [OUT] ids: up to max_ids of them (may be NULL when max_ids is 0).
 * [OUT] num_ids_p: how many the task has. Errors: INVALID_ARG. */
RELAY_API int relay_ctx_gpu_ids(const relay_ctx_t *ctx, int *ids, size_t max_ids,
                                size_t *num_ids_p);

/* The physical ids of the task's GPUs, what Ray's get_gpu_ids() gives: for
 * each of relay_ctx_gpu_ids' ordinals, the entry of CUDA_VISIBLE_DEVICES at
 * that ordinal as the job gave it ("4", or a UUID such as "GPU-5d2c..." or
 * "MIG-..."), or the ordinal itself when CUDA_VISIBLE_DEVICES is unset or
 * has no entry there. With CUDA_VISIBLE_DEVICES=4,5,6 a task with all
 * three GPUs gets ordinals 0, 1, 2 (for cudaSetDevice) and physical ids
 * 4, 5, 6 (for logs, nvidia-smi, pinning). Virtual GPUs (RELAY_NUM_GPUS
 * beyond the real devices) map their ordinal the same way, so a machine
 * without GPUs can rehearse a job's mapping; their ids name no device.
 * relay reads CUDA_VISIBLE_DEVICES once, in relay_init. */
#define RELAY_GPU_NAME_MAX 128 /* a physical id's characters, NUL included */
/* [OUT] buf: the physical id of GPU i (0 <= i < num_ids of
 * relay_ctx_gpu_ids) as a NUL-terminated string of at most
 * RELAY_GPU_NAME_MAX - 1 characters (longer entries are cut). Errors:
 * INVALID_ARG (NULL ctx or buf), OUT_OF_RANGE (i), SIZE_MISMATCH (size too
 * small for the id and its NUL: buf untouched; RELAY_GPU_NAME_MAX always
 * suffices). */
RELAY_API int relay_ctx_gpu_physical_name(const relay_ctx_t *ctx, size_t i, char *buf, size_t size);
/* The same as numbers, in the manner of relay_ctx_gpu_ids: -1 where the id
 * is not a plain non-negative number (a UUID). */
RELAY_API int relay_ctx_gpu_physical_ids(const relay_ctx_t *ctx, int *ids, size_t max_ids,
                                         size_t *num_ids_p);

/* ------------------------------------------------------------------------ */
/* Introspection                                                             */
/* ------------------------------------------------------------------------ */

/* Counters of this rank. The directory_* and tasks_pending fields are
 * meaningful on rank 0 only (0 elsewhere). */
typedef struct relay_stats {
    uint64_t tasks_submitted;   /* by this rank's clients */
    uint64_t tasks_executed;    /* on this rank's workers */
    uint64_t tasks_pending;     /* rank 0: submitted, not finished */
    uint64_t directory_objects; /* rank 0: live objects in the directory */
    uint64_t directory_bytes;   /* rank 0: bytes of inline objects held */
    uint64_t store_objects;     /* objects whose primary copy is here */
    uint64_t store_bytes;       /* of their bytes, those in memory */
    uint64_t held_refs;         /* distinct refs this rank holds */
    uint64_t live_views;        /* relay_object_t not yet freed */
    uint64_t bytes_fetched;     /* large-object bytes received peer-to-peer */
    uint64_t live_objects;      /* object buffers allocated in this process */
    uint64_t directory_waiters; /* rank 0: gets waiting for objects not ready */
    uint64_t tasks_running;     /* on this rank's workers, blocked ones included */
    uint64_t tasks_blocked;     /* of those, blocked in get / wait */
    uint64_t worker_threads;    /* threads of this rank's worker pool */
    uint64_t actors_hosted;     /* live actors on this rank */
    uint64_t actor_calls_run;   /* methods run on this rank */
    uint64_t spilled_objects;   /* store objects whose bytes are only in the spill file */
    uint64_t spilled_bytes;     /* bytes of the objects the spill file holds */
    uint64_t spill_writes;      /* objects written to the spill file */
    uint64_t spill_reads;       /* objects read back */
    uint64_t spill_failures;    /* writes that failed (the object stayed in memory) */
    /* Of the successful writes and reads: their bytes, and the time the
     * file work took (HDF5 and checksum; bytes / time is the throughput). */
    uint64_t spill_write_bytes, spill_read_bytes;
    uint64_t spill_write_ns, spill_read_ns;
    /* Dataflow: tasks rank 0 sent to their rank before their inputs were
     * made (rank 0); tasks waiting here for their inputs; returns this rank
     * sent straight to tasks waiting on other ranks, and handed to tasks
     * waiting here with no message; inputs rank 0 sent to waiting tasks
     * because their maker's rank had not (rank 0); tasks placed ahead that
     * rank 0 took back from a busy rank's queue to run elsewhere (rank 0). */
    uint64_t tasks_placed_ahead, tasks_waiting;
    uint64_t objects_pushed, objects_handed_over, objects_forwarded;
    uint64_t tasks_moved;
    /* Round trips to rank 0 asking whether a ref this rank made and
     * released lately still lives, made when a call is handed it (a task's
     * argument, a ref put in an object): once per such ref found alive. */
    uint64_t ref_checks;
    /* Rank 0: finished tasks kept (lineage) to make their objects held on
     * other ranks again should such a rank be lost, and the bytes they
     * take (their arguments, names). A task is kept while one of those
     * objects lives, only with rank_timeout > 0 and more than one rank, and
     * up to 256 MiB of kept tasks: past that, objects of tasks not kept
     * fail RELAY_ERR_RANK_LOST if their rank is lost ("lineage limit
     * reached"). */
    uint64_t lineage_tasks, lineage_bytes;
} relay_stats_t;

/* [OUT] stats_p. Errors: INVALID_ARG, NOT_INITIALIZED. */
RELAY_API int relay_stats(relay_stats_t *stats_p);

/* This rank's resources as its workers see them now. */
typedef struct relay_resources {
    double cpus;      /* offered to tasks */
    double cpus_free; /* not held by a running task (blocked ones give theirs back) */
    int gpus;         /* offered to tasks */
    double gpus_free; /* not held by a running task (blocked ones keep theirs) */
} relay_resources_t;

/* [OUT] res_p: zeros on a rank that hosts no workers.
 * Errors: INVALID_ARG, NOT_INITIALIZED. */
RELAY_API int relay_local_resources(relay_resources_t *res_p);

/* What a rank offers of a resource ("CPU", "GPU" in any case, or a custom
 * name), as
 * advertised at relay_init; rank -1 sums over every rank. Ranks that host
 * no workers offer nothing. [OUT] quantity_p: 0 for a resource the rank
 * does not have. Errors: INVALID_ARG (NULL, or a rank out of range),
 * NOT_INITIALIZED. */
RELAY_API int relay_resource_capacity(int rank, const char *name, double *quantity_p);

/* Resources of a rank or of the whole job, as relay_cluster_resources and
 * relay_available_resources fill them. The caller provides the array for
 * the custom resources. */
typedef struct relay_resource_set {
    double cpus; /* [OUT] */
    double gpus; /* [OUT] (available: fractions of a GPU count) */
    /* [IN] custom_cap entries for the custom resources (NULL when
     * custom_cap is 0). [OUT] the first min(num_custom, custom_cap) of
     * them: the custom resources that the rank (rank -1: some rank) offers
     * more than 0 of, sorted by name, the same list and order for the
     * totals and for what is available (a resource all in use is there,
     * with 0). Their names point at strings relay keeps until
     * relay_finalize: copy them to keep them longer. */
    relay_resource_t *custom;
    size_t custom_cap;
    /* [OUT] how many custom resources there are, even beyond custom_cap.
     * A rank offers at most RELAY_MAX_RESOURCES; the job, up to that many
     * per rank (custom_cap = RELAY_MAX_RESOURCES * ranks is always enough). */
    size_t num_custom;
} relay_resource_set_t;

/* The resources a rank offers (Ray's ray.cluster_resources()), as it
 * advertised them at relay_init; rank -1: the sum over every rank of the
 * job. Ranks found lost (see rank_timeout) offer nothing: rank -1 leaves
 * them out, and naming one is RELAY_ERR_RANK_LOST. Ranks that host no
 * workers offer nothing. Answered from the table every rank keeps: no
 * message. [IN] rank: -1 or 0..size-1. [IN,OUT] res_p: custom and
 * custom_cap set by the caller, the rest filled.
 * Errors: INVALID_ARG (res_p NULL, custom NULL with custom_cap > 0, rank
 * out of range), NOT_INITIALIZED, RANK_LOST, TRUNCATED (more custom
 * resources than custom_cap: cpus, gpus, num_custom and the first
 * custom_cap entries are filled all the same). Any thread, tasks included. */
RELAY_API int relay_cluster_resources(int rank, relay_resource_set_t *res_p);

/* What of those resources is free now (Ray's ray.available_resources()),
 * as rank 0's scheduler counts it: the totals less what running tasks
 * (placed ones waiting for their inputs keep their GPUs and custom
 * resources) and live actors hold. A task blocked in relay_get or
 * relay_wait gives its CPUs back until it resumes, not its GPUs nor its
 * custom resources. CPUs promised beyond a rank's capacity (tasks queued
 * there to start the moment one frees) leave it 0, never less. A snapshot:
 * it may have changed when the call returns. On rank 0 it reads the books
 * directly; elsewhere (tasks on worker ranks included) it asks rank 0 and
 * waits for the answer (a task waiting gives its CPUs back, as in
 * relay_get, after the question is asked: it counts as holding them). The
 * list of custom resources is relay_cluster_resources's, in its order.
 * [IN] rank: -1 (every rank not lost) or 0..size-1. [IN,OUT] res_p: as for
 * relay_cluster_resources. Errors: those of relay_cluster_resources;
 * TIMEOUT (rank 0 did not answer within 3 x rank_timeout; with rank_timeout
 * 0 it waits as long as relay runs), SHUTDOWN, INTERNAL (the answer could
 * not be read). Any thread, tasks included. */
RELAY_API int relay_available_resources(int rank, relay_resource_set_t *res_p);

/* Wait until rank 0 has processed every message this rank sent before the
 * call (releases included), so relay_stats on rank 0 reflects them.
 * Errors: NOT_INITIALIZED, SHUTDOWN, TIMEOUT, INVALID_ARG (NaN timeout). */
RELAY_API int relay_sync(double timeout_s);

#ifdef __cplusplus
}
#endif

#endif /* RELAY_H */
