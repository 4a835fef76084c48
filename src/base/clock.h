/* One clock for the whole job: seconds since rank 0's relay_init, on rank
 * 0's clock, so that log lines and trace events of different ranks (and
 * hosts) can be put side by side. */
#ifndef RELAY_CLOCK_H
#define RELAY_CLOCK_H

#include <mpi.h>

/* Measure this rank's clock offset to rank 0 (collective over comm): rank
 * 0 exchanges a few round trips with each rank in turn and keeps, per rank,
 * the sample of shortest round trip (its error is at most half of it).
 * Called by relay_init before the runtime thread starts, so nothing else
 * receives on comm. Returns the round trip of the sample kept on this rank
 * (0 on rank 0), or a negative value when MPI failed (the clock then
 * counts from this rank's own start). */
double relay__clock_sync(MPI_Comm comm);

/* Seconds on the job's clock: since rank 0's relay_init once synced;
 * before that, since this process first asked. Any thread. */
double relay__clock_now(void);

/* The job clock's value of a time t taken with relay__now(). */
double relay__clock_of(double t);

/* The half round trip of this rank's kept sample: how far its job clock
 * may be off rank 0's (0 on rank 0 and before a sync). */
double relay__clock_error(void);

/* Seconds added to this process's clock, as if its node's monotonic clock
 * differed from rank 0's (as other machines' do): tests set it before
 * relay_init to check that the sync removes it. 0 otherwise. Only
 * relay__clock_now sees it (not relay__clock_of). */
extern double relay__clock_skew;

#endif
