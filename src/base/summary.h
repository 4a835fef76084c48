/* The end-of-run summary (RELAY_SUMMARY): counters every rank keeps, and
 * the table rank 0 prints at relay_finalize from all ranks' counters. */
#ifndef RELAY_SUMMARY_H
#define RELAY_SUMMARY_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "relay.h"

/* "class.method" of the longest names, with its NUL. */
#define RELAY__SUMMARY_NAME (2 * RELAY_MAX_NAME)

/* One rank's figures. All uint64_t: gathered as an array of them. */
typedef struct relay__summary_rank {
    uint64_t tasks;              /* tasks, constructors and methods run here */
    uint64_t busy_ns;            /* their run times, summed */
    uint64_t blocked_ns;         /* their time inside get / wait / get_many */
    uint64_t obj_sent, obj_recv; /* bytes of large objects transferred */
    uint64_t msg_sent, msg_recv; /* bytes of control messages */
    uint64_t spilled, restored;  /* objects written to / read from the spill file */
    uint64_t peak_bytes;         /* the store's in-memory high-water mark */
} relay__summary_rank_t;

#define RELAY__SUMMARY_RANK_WORDS (sizeof(relay__summary_rank_t) / sizeof(uint64_t))

/* One function's (or "class.method"'s) runs on one rank, or merged. */
typedef struct relay__summary_fn {
    char name[RELAY__SUMMARY_NAME];
    uint64_t count, total_ns, max_ns, failures;
} relay__summary_fn_t;

/* Collective, in relay_init before any task can run: rank 0's setting
 * decides for every rank (they would otherwise disagree on the gather),
 * and the counters start from zero. Returns whether the summary is on. */
int relay__summary_start(MPI_Comm comm, int enabled);

/* A task (cls NULL), a constructor (fn NULL) or a method ran for seconds
 * and failed or not. Any thread. */
void relay__summary_ran(const char *cls, const char *fn, double seconds, int failed);
/* A task or method waited this long in a get or wait. Any thread. */
void relay__summary_blocked(double seconds);
/* A large-object transfer of bytes completed (sent or received). */
void relay__summary_xfer(int sent, uint64_t bytes);
/* A control message of bytes went out or came in over MPI. */
void relay__summary_msg(int sent, uint64_t bytes);

/* Tags of comm the summary's gather uses (gather.h). */
#define RELAY__SUMMARY_TAG 0x5e00

/* At relay_finalize, on every rank of comm: every rank sends mine (its
 * store figures filled by the caller) and its per-function records to
 * rank 0, which waits at most timeout seconds for them (skip: ranks known
 * gone, see relay__gather_bytes) and prints the table to out with wall
 * seconds in its title; a rank whose report did not come is marked in it.
 * Does nothing when the summary is off. */
void relay__summary_finish(MPI_Comm comm, const char *skip, double timeout,
                           relay__summary_rank_t *mine, double wall, FILE *out);
/* This rank's counters, store figures left zero. */
void relay__summary_local(relay__summary_rank_t *r);

/* Merge records of the same name (sums; the max of max_ns) and sort by
 * total time, longest first, then by name. Returns how many are left. */
size_t relay__summary_merge(relay__summary_fn_t *fns, size_t n);
/* The table: title, one row per rank (missing[r]: "no report"; missing
 * may be NULL), fns merged (reordered in place), their totals. */
void relay__summary_print(FILE *out, double wall, int nranks, const relay__summary_rank_t *ranks,
                          const char *missing, relay__summary_fn_t *fns, size_t nfns);

#endif
