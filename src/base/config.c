#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "resources.h"

#define KiB ((long long)1024)

typedef struct int_option {
    const char *env;
    long long min, max;
    int sizes; /* accepts K, M, G suffixes */
} int_option_t;

static const int_option_t opt_num_cpus = {"RELAY_NUM_CPUS", 1, 4096, 0};
static const int_option_t opt_driver_workers = {"RELAY_DRIVER_WORKERS", 0, 1, 0};
static const int_option_t opt_inline_max = {"RELAY_INLINE_MAX", 0, 64 * KiB *KiB, 1};
static const int_option_t opt_log_level = {"RELAY_LOG_LEVEL", 0, 3, 0};
static const int_option_t opt_poll_max_us = {"RELAY_POLL_MAX_US", 1, 1000000, 0};
static const int_option_t opt_chunk_bytes = {"RELAY_CHUNK_BYTES", 4096, KiB *KiB *KiB, 1};
static const int_option_t opt_num_gpus = {"RELAY_NUM_GPUS", 0, RELAY__MAX_GPUS, 0};
static const int_option_t opt_max_threads = {"RELAY_MAX_THREADS", 1, 65536, 0};
static const int_option_t opt_slurm_cpus = {"SLURM_CPUS_PER_TASK", 1, 4096, 0};
static const int_option_t opt_store_budget = {"RELAY_STORE_BUDGET", 0, KiB *KiB *KiB *KiB *KiB, 1};
static const int_option_t opt_spill_keep = {"RELAY_SPILL_KEEP", 0, 1, 0};
static const int_option_t opt_spill_max = {"RELAY_SPILL_MAX", 0, KiB *KiB *KiB *KiB *KiB, 1};
static const int_option_t opt_crash_report = {"RELAY_CRASH_REPORT", 0, 1, 0};
static const int_option_t opt_spill_clean = {"RELAY_SPILL_CLEAN", 0, 1, 0};
static const int_option_t opt_rank_timeout = {"RELAY_RANK_TIMEOUT", 0, 86400, 0};
static const int_option_t opt_trace_buffer = {"RELAY_TRACE_BUFFER", 0, 64 * KiB *KiB *KiB, 1};
static const int_option_t opt_summary = {"RELAY_SUMMARY", 0, 1, 0};

/* The spill directory as resolved (the field's string may not outlive
 * relay_init's caller). */
static char spill_dir[4096];
/* The trace path likewise ("": none). */
static char trace_path[4096];

static int check_range(const int_option_t *o, const char *what, long long v)
{
    if (v < o->min || v > o->max)
        return relay__error(RELAY_ERR_CONFIG, "%s = %lld is outside %lld..%lld", what, v, o->min,
                            o->max);
    return RELAY_OK;
}

/* Parse the variable if set; *v keeps its value when it is not. */
static int from_env(const int_option_t *o, long long *v)
{
    const char *s = getenv(o->env);
    if (!s) return RELAY_OK;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || errno) goto bad;
    if (o->sizes && *end) {
        long long mult = *end == 'K' || *end == 'k'   ? KiB
                         : *end == 'M' || *end == 'm' ? KiB * KiB
                         : *end == 'G' || *end == 'g' ? KiB * KiB * KiB
                                                      : 0;
        if (!mult || x > LLONG_MAX / mult || x < LLONG_MIN / mult) goto bad;
        x *= mult;
        end++;
    }
    if (*end) goto bad;
    *v = x;
    return check_range(o, o->env, x);
bad:
    return relay__error(RELAY_ERR_CONFIG, "%s = '%s' is not %s", o->env, s,
                        o->sizes ? "a size (e.g. 4096, 64K, 1M)" : "an integer");
}

/* CPUs a worker rank offers by default: what Slurm gave the task, else
 * what the affinity mask allows. A malformed Slurm value is ignored (it is
 * Slurm's variable, not relay's), with a warning. */
static long long default_cpus(void)
{
    long long n = 0;
    if (getenv(opt_slurm_cpus.env) && from_env(&opt_slurm_cpus, &n) != RELAY_OK) {
        relay__log(RELAY__LOG_WARN, "ignoring %s: %s", opt_slurm_cpus.env, relay_last_error());
        n = 0;
    }
    if (n > 0) return n;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

/* Custom resources: the field's list, replaced by RELAY_RESOURCES. */
static int resolve_resources(const relay_config_t *in, relay__offer_t *offer)
{
    offer->ncustom = 0;
    if (in && (in->field_mask & RELAY_CONFIG_RESOURCES)) {
        int rc = relay__offer_set(offer, in->resources, in->num_resources,
                                  "relay_config_t.resources", RELAY_ERR_CONFIG);
        if (rc) return rc;
    }
    const char *env = getenv("RELAY_RESOURCES");
    return env ? relay__offer_parse(offer, env, "RELAY_RESOURCES") : RELAY_OK;
}

/* Apply field (when its mask bit is set) then the environment. */
static int resolve_one(const int_option_t *o, const relay_config_t *in, uint64_t bit,
                       long long field, const char *field_name, long long *v)
{
    if (in && (in->field_mask & bit)) {
        int rc = check_range(o, field_name, field);
        if (rc) return rc;
        *v = field;
    }
    return from_env(o, v);
}

/* A path setting into buf (4096 bytes): the field when its bit is set,
 * then the variable; neither may be empty. fallback when neither is set
 * (buf then empty when fallback is NULL). */
static int resolve_path(const relay_config_t *in, uint64_t bit, const char *field,
                        const char *field_name, const char *env_name, const char *fallback,
                        char *buf)
{
    const char *path = fallback;
    if (in && (in->field_mask & bit)) {
        if (!field || !*field)
            return relay__error(RELAY_ERR_CONFIG, "relay_config_t.%s is empty", field_name);
        path = field;
    }
    const char *env = getenv(env_name);
    if (env && !*env) return relay__error(RELAY_ERR_CONFIG, "%s is empty", env_name);
    if (env) path = env;
    /* Room for the file names made inside it. */
    if (path && strlen(path) >= 4096 - 64)
        return relay__error(RELAY_ERR_CONFIG, "%s '%s' is too long", field_name, path);
    snprintf(buf, 4096, "%s", path ? path : "");
    return RELAY_OK;
}

/* finalize_timeout: the field, then RELAY_FINALIZE_TIMEOUT (seconds,
 * a finite number in 0..1e6). */
static int resolve_finalize_timeout(const relay_config_t *in, double *v)
{
    *v = 10.0;
    if (in && (in->field_mask & RELAY_CONFIG_FINALIZE_TIMEOUT)) {
        if (!(in->finalize_timeout >= 0 && in->finalize_timeout <= 1e6))
            return relay__error(RELAY_ERR_CONFIG,
                                "relay_config_t.finalize_timeout = %g is outside 0..1e6 seconds",
                                in->finalize_timeout);
        *v = in->finalize_timeout;
    }
    const char *s = getenv("RELAY_FINALIZE_TIMEOUT");
    if (!s) return RELAY_OK;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(x) || x < 0 || x > 1e6)
        return relay__error(RELAY_ERR_CONFIG,
                            "RELAY_FINALIZE_TIMEOUT = '%s' is not a number of seconds in 0..1e6",
                            s);
    *v = x;
    return RELAY_OK;
}

int relay__config_nodes(int *per_rank_p)
{
    const char *s = getenv("RELAY_NODES");
    if (!s || !strcmp(s, "shared")) {
        *per_rank_p = 0;
        return RELAY_OK;
    }
    if (!strcmp(s, "rank")) {
        *per_rank_p = 1;
        return RELAY_OK;
    }
    return relay__error(RELAY_ERR_CONFIG,
                        "RELAY_NODES = '%s' is not 'shared' (the ranks that share memory form a "
                        "node) or 'rank' (every rank is a node of its own)",
                        s);
}

int relay__config_resolve(const relay_config_t *in, relay_config_t *out, relay__offer_t *offer)
{
    long long num_cpus = default_cpus(), driver_workers = 0, inline_max = 100 * KiB, log_level = 1,
              poll_max_us = 1000, chunk_bytes = 64 * KiB * KiB, num_gpus = -1, max_threads = 0,
              store_budget = -1, spill_keep = 0, spill_max = 0, crash_report = 1, spill_clean = 1,
              rank_timeout = 10, trace_buffer = 64 * KiB * KiB, summary = 0;
    int rc;
/* A field is read only when its bit is set: a caller's struct may predate
 * the field (fields are only ever appended). */
#define RESOLVE(opt, bit, fld, var)                                                                \
    rc = resolve_one(&opt, in, bit, in && (in->field_mask & (bit)) ? (long long)in->fld : 0,       \
                     "relay_config_t." #fld, &var);                                                \
    if (rc) return rc
    RESOLVE(opt_num_cpus, RELAY_CONFIG_NUM_CPUS, num_cpus, num_cpus);
    RESOLVE(opt_driver_workers, RELAY_CONFIG_DRIVER_WORKERS, driver_workers, driver_workers);
    RESOLVE(opt_inline_max, RELAY_CONFIG_INLINE_MAX, inline_max, inline_max);
    RESOLVE(opt_log_level, RELAY_CONFIG_LOG_LEVEL, log_level, log_level);
    RESOLVE(opt_poll_max_us, RELAY_CONFIG_POLL_MAX_US, poll_max_us, poll_max_us);
    RESOLVE(opt_chunk_bytes, RELAY_CONFIG_CHUNK_BYTES, chunk_bytes, chunk_bytes);
    RESOLVE(opt_num_gpus, RELAY_CONFIG_NUM_GPUS, num_gpus, num_gpus);
    RESOLVE(opt_max_threads, RELAY_CONFIG_MAX_THREADS, max_threads, max_threads);
    RESOLVE(opt_store_budget, RELAY_CONFIG_STORE_BUDGET, store_budget, store_budget);
    RESOLVE(opt_spill_keep, RELAY_CONFIG_SPILL_KEEP, spill_keep, spill_keep);
    RESOLVE(opt_spill_max, RELAY_CONFIG_SPILL_MAX, spill_max, spill_max);
    RESOLVE(opt_crash_report, RELAY_CONFIG_CRASH_REPORT, crash_report, crash_report);
    RESOLVE(opt_spill_clean, RELAY_CONFIG_SPILL_CLEAN, spill_clean, spill_clean);
    RESOLVE(opt_rank_timeout, RELAY_CONFIG_RANK_TIMEOUT, rank_timeout, rank_timeout);
    RESOLVE(opt_trace_buffer, RELAY_CONFIG_TRACE_BUFFER, trace_buffer, trace_buffer);
    RESOLVE(opt_summary, RELAY_CONFIG_SUMMARY, summary, summary);
#undef RESOLVE
    /* The spill directory: else $TMPDIR, else /tmp. */
    const char *tmp = getenv("TMPDIR");
    /* Fields read only when their bit is set (the struct may predate them). */
    int has_dir = in && (in->field_mask & RELAY_CONFIG_SPILL_DIR);
    int has_trace = in && (in->field_mask & RELAY_CONFIG_TRACE);
    if ((rc = resolve_path(in, RELAY_CONFIG_SPILL_DIR, has_dir ? in->spill_dir : NULL, "spill_dir",
                           "RELAY_SPILL_DIR", tmp && *tmp ? tmp : "/tmp", spill_dir)) ||
        (rc = resolve_path(in, RELAY_CONFIG_TRACE, has_trace ? in->trace : NULL, "trace",
                           "RELAY_TRACE", NULL, trace_path)))
        return rc;
    const char *trace = trace_path[0] ? trace_path : NULL;
    double finalize_timeout;
    if ((rc = resolve_finalize_timeout(in, &finalize_timeout))) return rc;
    if (max_threads == 0) {
        max_threads = num_cpus + 512;
    } else if (max_threads < num_cpus) {
        return relay__error(RELAY_ERR_CONFIG,
                            "max_threads (%s) = %lld is below the rank's %lld CPUs: they could "
                            "not all be used",
                            getenv(opt_max_threads.env) ? opt_max_threads.env
                                                        : "relay_config_t.max_threads",
                            max_threads, num_cpus);
    }
    if ((rc = resolve_resources(in, offer))) return rc;
    offer->num_gpus = (int)num_gpus;
    memset(out, 0, sizeof *out);
    out->field_mask = ~(uint64_t)0;
    out->comm = in && (in->field_mask & RELAY_CONFIG_COMM) ? in->comm : MPI_COMM_WORLD;
    out->num_cpus = (int)num_cpus;
    out->driver_workers = (int)driver_workers;
    out->inline_max = (size_t)inline_max;
    out->log_level = (int)log_level;
    out->poll_max_us = (int)poll_max_us;
    out->chunk_bytes = (size_t)chunk_bytes;
    out->num_gpus = (int)num_gpus;
    out->max_threads = (int)max_threads;
    out->resources = NULL; /* copied into the offer */
    out->store_budget = store_budget < 0 ? SIZE_MAX : (size_t)store_budget; /* MAX: by node */
    out->spill_dir = spill_dir;
    out->spill_keep = (int)spill_keep;
    out->spill_max = (size_t)spill_max;
    out->crash_report = (int)crash_report;
    out->spill_clean = (int)spill_clean;
    out->rank_timeout = (int)rank_timeout;
    out->summary = (int)summary;
    out->num_resources = 0;
    out->finalize_timeout = finalize_timeout;
    out->trace = trace;
    out->trace_buffer = (size_t)trace_buffer;
    if (in && (in->field_mask & RELAY_CONFIG_COMM) && in->comm == MPI_COMM_NULL)
        return relay__error(RELAY_ERR_CONFIG, "relay_config_t.comm is MPI_COMM_NULL");
    return RELAY_OK;
}
