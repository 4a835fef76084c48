/* Resources: fixed-point quantities, what a task asks for (its demand),
 * and the cluster table of what every rank offers. The table is built by a
 * collective at relay_init and is the same on every rank, so relay_submit
 * rejects a task no rank could ever run without asking rank 0. */
#ifndef RELAY_RESOURCES_H
#define RELAY_RESOURCES_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "relay.h"

/* Quantities travel and are counted as integers of 1/RELAY__UNIT, so sums
 * of fractions are exact. */
#define RELAY__UNIT 10000
#define RELAY__MAX_GPUS 64 /* per rank */

typedef struct relay__amount {
    uint32_t idx; /* index in the cluster's table of custom resource names */
    int64_t units;
} relay__amount_t;

typedef struct relay__demand {
    int64_t cpu, gpu;
    uint32_t ncustom;
    relay__amount_t custom[RELAY_MAX_RESOURCES]; /* ascending idx */
} relay__demand_t;

/* What this rank offers besides CPUs, as configuration resolves it. */
typedef struct relay__offer {
    int num_gpus; /* -1: discover */
    uint32_t ncustom;
    char names[RELAY_MAX_RESOURCES][RELAY_MAX_NAME];
    int64_t units[RELAY_MAX_RESOURCES];
} relay__offer_t;

/* What every rank offers. A rank offering no CPUs hosts no workers. */
typedef struct relay__cluster {
    int nranks;
    uint32_t ncustom;
    char **names;    /* sorted, so every rank numbers them alike */
    int64_t *cpu;    /* [rank] */
    int *ngpu;       /* [rank] */
    int *threads;    /* [rank]: most worker threads (0: hosts no workers) */
    int64_t *custom; /* [rank * ncustom + idx] */
} relay__cluster_t;

/* A quantity in units; INVALID_ARG naming `what` when it is negative, not
 * finite, too large or not a multiple of 1/RELAY__UNIT. */
int relay__units_from(double q, const char *what, int64_t *units_p);
/* "1", "0.5", "2.0001". */
void relay__units_format(int64_t units, char *buf, size_t n);

/* Fill o's custom list from an array / from "name=qty,name=qty". Status
 * `bad` (INVALID_ARG or CONFIG) naming `what` on a bad entry. */
int relay__offer_set(relay__offer_t *o, const relay_resource_t *res, size_t n, const char *what,
                     int bad);
int relay__offer_parse(relay__offer_t *o, const char *spec, const char *what);

/* Collective over comm: exchange offers and build the table (relay__g). */
int relay__cluster_init(MPI_Comm comm, int64_t cpu_units, int ngpu, int threads,
                        const relay__offer_t *o);
void relay__cluster_destroy(void);
const relay__cluster_t *relay__cluster(void);
/* Index of a custom resource, or -1 when no rank offers it. */
int relay__cluster_index(const char *name);

/* The demand of a task from its options (NULL: 1 CPU). INVALID_ARG on bad
 * values, INFEASIBLE when no rank could ever run it (both logged, with the
 * detail in relay_last_error). fn names the task in messages. */
int relay__demand_make(const char *fn, const relay_task_opts_t *opts, relay__demand_t *d);
/* d names only resources of the cluster table, and some rank's full
 * capacity covers it (a check of a demand that came in a record). */
int relay__demand_feasible(const relay__demand_t *d);
/* Rank r's full capacity covers d. */
int relay__demand_fits_capacity(const relay__demand_t *d, int r);
/* 1 CPU and nothing else: the common case, sent as one byte. */
int relay__demand_is_default(const relay__demand_t *d);
void relay__demand_default(relay__demand_t *d);
/* (Its wire form: relay__demand_encode / _decode in records.h.) */
/* "1 CPU, 0.5 GPU, license: 2". */
void relay__demand_format(const relay__demand_t *d, char *buf, size_t n);

#endif
