/* Reports to rank 0 at relay_finalize (the trace, the summary): every
 * rank's bytes, over point-to-point messages with a deadline rather than
 * a collective, so that a rank that never comes (lost after rank 0 last
 * looked, stuck in an actor's destructor) costs a bounded wait, never a
 * hang of the whole job. */
#ifndef RELAY_GATHER_H
#define RELAY_GATHER_H

#include <mpi.h>
#include <stddef.h>

/* One gather: comm's ranks each call it with their bytes (mine, len).
 * Messages use tags tag and tag + 1 of comm, which nothing else may use
 * meanwhile.
 * Rank 0: skip[r] (NULL: none) names ranks known to be gone, not waited
 * for; parts[r] and lens[r] (arrays of comm's size) receive each other
 * rank's bytes, malloc'd, or NULL and 0 for a rank that sent nothing
 * within timeout seconds (logged) or whose bytes found no memory;
 * parts[0] is left NULL (rank 0 has its own). parts and lens NULL: the
 * bytes are received and dropped (rank 0 could not use them, but the
 * senders need not wait for nothing). Returns how many ranks
 * delivered, rank 0 included.
 * Other ranks: parts and lens unused; returns 1 once rank 0 has taken the
 * bytes, 0 when it did not within timeout: mine then stays in MPI's hands
 * and must not be freed. */
int relay__gather_bytes(MPI_Comm comm, int tag, const void *mine, size_t len, const char *skip,
                        double timeout, void **parts, size_t *lens);

#endif
