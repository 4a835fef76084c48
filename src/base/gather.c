/* Gathering reports to rank 0 with a deadline (gather.h). Rank 0 first
 * receives each rank's length, then its bytes in pieces below MPI's int
 * count, one piece at a time per rank. */
#include "gather.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "runtime.h"

/* The largest piece one message carries (counts are ints). */
#define PIECE ((size_t)1 << 30)

/* Rank 0's view of one sender. */
typedef struct sender {
    uint64_t len;    /* announced */
    char *buf;       /* its bytes, len of them once done */
    size_t got;      /* bytes received so far */
    MPI_Request req; /* the length's or the current piece's receive */
    int state;       /* S_* */
} sender_t;

enum { S_SKIP, S_LEN, S_DATA, S_DONE, S_FAILED };

static void nap(void)
{
    struct timespec ts = {0, 200 * 1000};
    nanosleep(&ts, NULL);
}

static size_t piece_of(size_t left)
{
    return left < PIECE ? left : PIECE;
}

/* The sender's next step once its receive completed. */
static void advance(MPI_Comm comm, int tag, int r, sender_t *s)
{
    if (s->state == S_LEN) {
        s->buf = malloc(s->len ? (size_t)s->len : 1);
        if (!s->buf) {
            relay__log(RELAY__LOG_WARN, "report of rank %d (%llu bytes) left out: out of memory", r,
                       (unsigned long long)s->len);
            s->state = S_FAILED;
            return;
        }
        s->state = S_DATA;
    } else {
        s->got += piece_of((size_t)s->len - s->got);
    }
    if (s->got == s->len) {
        s->state = S_DONE;
        return;
    }
    MPI_Irecv(s->buf + s->got, (int)piece_of((size_t)s->len - s->got), MPI_BYTE, r, tag + 1, comm,
              &s->req);
}

/* Poll every pending receive until all are done or the deadline. */
static void collect(MPI_Comm comm, int tag, int size, sender_t *s, double deadline)
{
    for (;;) {
        int pending = 0, moved = 0;
        for (int r = 1; r < size; r++) {
            if (s[r].state != S_LEN && s[r].state != S_DATA) continue;
            int flag = 0;
            if (MPI_Test(&s[r].req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
                s[r].state = S_FAILED;
                continue;
            }
            if (flag) {
                advance(comm, tag, r, &s[r]);
                moved = 1;
            }
            pending += s[r].state == S_LEN || s[r].state == S_DATA;
        }
        if (!pending || relay__now() >= deadline) return;
        if (!moved) nap();
    }
}

/* Ranks that did not deliver in time: their receives are withdrawn and
 * the log names them (first few). */
static void give_up(int size, sender_t *s, double timeout)
{
    char list[256] = "";
    int n = 0;
    size_t used = 0;
    for (int r = 1; r < size; r++) {
        if (s[r].state != S_LEN && s[r].state != S_DATA) continue;
        MPI_Cancel(&s[r].req);
        MPI_Request_free(&s[r].req);
        /* A withdrawn piece's buffer may still be written by MPI. */
        s[r].buf = NULL;
        s[r].state = S_FAILED;
        if (n++ < 16 && used < sizeof list - 16)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%d", n > 1 ? " " : "", r);
    }
    if (n)
        relay__log(RELAY__LOG_WARN, "report of rank%s %s%s left out: nothing came within %.0f s",
                   n > 1 ? "s" : "", list, n > 16 ? " ..." : "", timeout);
}

static int gather_root(MPI_Comm comm, int tag, int size, const char *skip, double timeout,
                       void **parts, size_t *lens)
{
    sender_t *s = calloc((size_t)size, sizeof *s);
    for (int r = 0; parts && r < size; r++)
        parts[r] = NULL, lens[r] = 0;
    if (!s) {
        relay__log(RELAY__LOG_WARN, "reports of other ranks left out: out of memory");
        return 1;
    }
    for (int r = 1; r < size; r++) {
        if (skip && skip[r]) continue;
        s[r].state = S_LEN;
        MPI_Irecv(&s[r].len, 1, MPI_UINT64_T, r, tag, comm, &s[r].req);
    }
    collect(comm, tag, size, s, relay__now() + timeout);
    give_up(size, s, timeout);
    int delivered = 1;
    for (int r = 1; r < size; r++) {
        if (s[r].state == S_DONE && !parts) {
            free(s[r].buf); /* drained for the sender's sake only */
        } else if (s[r].state == S_DONE) {
            parts[r] = s[r].buf;
            lens[r] = (size_t)s[r].len;
            delivered++;
        } else if (s[r].state == S_FAILED) {
            free(s[r].buf);
        }
    }
    free(s);
    return delivered;
}

/* The length and the requests, in one block: on a timeout MPI may still
 * read the length, so the block is then left allocated (a few bytes). */
typedef struct send_state {
    uint64_t len;
    MPI_Request reqs[];
} send_state_t;

static int gather_send(MPI_Comm comm, int tag, const void *mine, size_t len, double timeout)
{
    size_t npieces = len ? (len + PIECE - 1) / PIECE : 0;
    send_state_t *st = malloc(sizeof *st + (npieces + 1) * sizeof(MPI_Request));
    if (!st) {
        /* Announce nothing: rank 0 gives up on this rank at its deadline. */
        relay__log(RELAY__LOG_WARN, "report to rank 0 not sent: out of memory");
        return 0;
    }
    st->len = len;
    MPI_Isend(&st->len, 1, MPI_UINT64_T, 0, tag, comm, &st->reqs[0]);
    for (size_t i = 0; i < npieces; i++) {
        size_t off = i * PIECE;
        MPI_Isend((const char *)mine + off, (int)piece_of(len - off), MPI_BYTE, 0, tag + 1, comm,
                  &st->reqs[i + 1]);
    }
    double deadline = relay__now() + timeout;
    int done = 0;
    while (MPI_Testall((int)npieces + 1, st->reqs, &done, MPI_STATUSES_IGNORE) == MPI_SUCCESS &&
           !done && relay__now() < deadline)
        nap();
    if (done) {
        free(st);
        return 1;
    }
    relay__log(RELAY__LOG_WARN, "report to rank 0 not taken within %.0f s: left out", timeout);
    for (size_t i = 0; i <= npieces; i++)
        if (st->reqs[i] != MPI_REQUEST_NULL) MPI_Request_free(&st->reqs[i]);
    return 0;
}

int relay__gather_bytes(MPI_Comm comm, int tag, const void *mine, size_t len, const char *skip,
                        double timeout, void **parts, size_t *lens)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (rank == 0) return gather_root(comm, tag, size, skip, timeout, parts, lens);
    return gather_send(comm, tag, mine, len, timeout);
}
