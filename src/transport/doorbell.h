/* Doorbells: a word per rank, in memory shared by the ranks of a node, that
 * a sender bumps after queueing an MPI message for a rank whose runtime
 * thread sleeps, and that the sleeper waits on with a futex. An idle rank
 * then sleeps without polling yet wakes within microseconds when a message
 * from its node arrives: no spinning, which matters most when ranks
 * outnumber cores. Messages from other nodes are still found by polling. */
#ifndef RELAY_DOORBELL_H
#define RELAY_DOORBELL_H

#include <mpi.h>

/* Collective over node (the ranks of this node; kept until fini, not
 * freed), then over host (the ranks of this machine: whether they
 * outnumber its CPUs). A node of one rank, or one whose shared memory is
 * not available, gets a private bell (local wake-ups only). */
int relay__bell_init(MPI_Comm node, MPI_Comm host);
/* Collective. */
void relay__bell_fini(void);

/* Wake rank's runtime thread if it sleeps on its bell. Any thread. */
void relay__bell_ring(int rank);

/* The sleeper: arm, re-check for work, then wait until rung or timeout.
 * A ring after arm is never lost. */
unsigned relay__bell_arm(void);
void relay__bell_wait(unsigned armed, double seconds);

/* More ranks on this machine than CPUs: threads should block, not spin,
 * while they wait. */
int relay__bell_oversubscribed(void);

/* Every rank has a bell here (one node): no message needs polling to be
 * noticed. */
int relay__bell_all_local(void);

#endif
