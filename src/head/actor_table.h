/* Actors: the client calls (create, call, lookup, kill: src/actor.c) and
 * rank 0's actor table. An actor is created by a constructor task placed
 * like any task; that task's resources stay reserved for the actor's life
 * (its CPUs only when the actor asked for them: Ray's default actor needs
 * one free to be placed and holds none once built).
 * Calls are tasks too, sent to the actor's rank by rank 0 in the order
 * each caller made them (a task, an actor, or a rank's threads outside
 * tasks), once the actor is placed and their arguments exist
 * (MPI keeps the order from rank 0 to the actor's rank; the actor runs
 * them in that order). Their results fill the directory like a task's.
 * Lock held for every call. */
#ifndef RELAY_ACTOR_TABLE_H
#define RELAY_ACTOR_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct relay__stask;
struct relay__sactor;

int relay__actors_init(void);
/* Finalize, before the scheduler frees its tasks: actors let go of theirs
 * (a live actor's body is freed here); then destroy frees the table. */
void relay__actors_detach(void);
void relay__actors_destroy(void);
/* The actor rank 0 knows under id (dead ones included), or NULL. */
struct relay__sactor *relay__actor_find(uint64_t id);

/* A constructor's SUBMIT (t in the task table): take its name, make the
 * actor. RELAY_OK, or the status to fail t with (EXISTS), msg set. */
int relay__actor_on_create(struct relay__stask *t, int src, char *msg, size_t n);
/* The constructor's task was sent to its rank: calls can follow. */
void relay__actor_placed(struct relay__stask *body);
/* The constructor finished with status. Returns 1 when the actor lives on
 * (the body keeps its resources and leaves the task table). */
int relay__actor_built(struct relay__stask *body, int status, const char *msg);
/* The body task is being freed. */
void relay__actor_body_freed(struct relay__stask *body);
/* A method's SUBMIT (t in the task table): queue it behind the earlier
 * calls of its caller. RELAY_OK, or the status to fail t with, msg set. */
int relay__actor_on_call(struct relay__stask *t, char *msg, size_t n);
/* A queued call's arguments are all in (or one failed). */
void relay__actor_call_ready(struct relay__stask *t);
/* A call not sent yet (on its caller's stream) is taken off and fails with
 * status and msg; the caller's later calls go if they can. */
void relay__actor_call_dropped(struct relay__stask *t, int status, const char *msg);

/* A call sent to its actor's rank finished (or was dropped). */
void relay__actor_call_left(struct relay__stask *t);

/* rank was lost (lost: "rank 2 (host h) was lost..."): the actors there
 * die with that reason; their calls sent there fail RELAY_ERR_ACTOR_DEAD. */
void relay__actor_rank_lost(int rank, const char *lost);

void relay__actor_on_kill(int src, relay__rbuf_t *r);
void relay__actor_on_cpu(int src, relay__rbuf_t *r);
void relay__actor_on_lookup(int src, relay__rbuf_t *r);
void relay__actor_on_gone(int src, relay__rbuf_t *r);

#endif
