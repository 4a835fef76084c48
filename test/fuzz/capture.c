/* Records as relay really sends them, for the fuzz seed corpus: a PMPI
 * interposer, preloaded into the ranks of a run (LD_PRELOAD), that saves
 * the control messages relay sends (MPI_BYTE on tag 1, RELAY__TAG_CTRL, on
 * a communicator other than MPI_COMM_WORLD) to $RELAY_FUZZ_CAPTURE_DIR:
 * each record as a file <type>.<tag>.<pid>.<n> (one record, wire framing),
 * and each message of several records as msg.<tag>.<pid>.<n>. <tag> is
 * $RELAY_FUZZ_CAPTURE_TAG (default "run"), naming the program captured.
 * make_corpus.sh picks the seed corpus among them. Nothing of relay is
 * changed or linked: the library cannot tell it is watched.
 *
 * Records over MAX_SAVE bytes are skipped (seeds stay small), and a
 * process saves at most MAX_PER_TYPE records of a type and MAX_MSGS
 * messages. */
#include <mpi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAG_CTRL 1
#define MAX_TYPE 64
#define MAX_SAVE 2048
#define MAX_PER_TYPE 40
#define MAX_MSGS 40

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int saved[MAX_TYPE + 1];
static int seq;

static void save(const char *dir, const char *what, const void *p, size_t n)
{
    const char *tag = getenv("RELAY_FUZZ_CAPTURE_TAG");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s.%ld.%d", dir, what, tag && *tag ? tag : "run",
             (long)getpid(), seq++);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(p, 1, n, f);
    fclose(f);
}

/* Split a message into records; nothing is saved unless it parses whole. */
static void capture(const uint8_t *buf, size_t len)
{
    const char *dir = getenv("RELAY_FUZZ_CAPTURE_DIR");
    if (!dir || !*dir) return;
    size_t nrec = 0;
    for (size_t pos = 0; pos < len; nrec++) {
        uint32_t n;
        if (len - pos < 5 || buf[pos] == 0 || buf[pos] > MAX_TYPE) return;
        memcpy(&n, buf + pos + 1, 4);
        if (n > len - pos - 5) return;
        pos += 5 + (size_t)n;
    }
    pthread_mutex_lock(&lock);
    for (size_t pos = 0; pos < len;) {
        uint32_t n;
        memcpy(&n, buf + pos + 1, 4);
        char what[16];
        snprintf(what, sizeof what, "%u", buf[pos]);
        if (5 + (size_t)n <= MAX_SAVE && saved[buf[pos]] < MAX_PER_TYPE) {
            saved[buf[pos]]++;
            save(dir, what, buf + pos, 5 + (size_t)n);
        }
        pos += 5 + (size_t)n;
    }
    if (nrec > 1 && len <= MAX_SAVE && saved[0] < MAX_MSGS) {
        saved[0]++;
        save(dir, "msg", buf, len);
    }
    pthread_mutex_unlock(&lock);
}

static int is_relay_ctrl(MPI_Datatype type, int tag, MPI_Comm comm)
{
    int cmp = MPI_UNEQUAL;
    if (type != MPI_BYTE || tag != TAG_CTRL) return 0;
    PMPI_Comm_compare(comm, MPI_COMM_WORLD, &cmp);
    return cmp != MPI_IDENT;
}

int MPI_Isend(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
              MPI_Request *req)
{
    if (count > 0 && is_relay_ctrl(type, tag, comm)) capture(buf, (size_t)count);
    return PMPI_Isend(buf, count, type, dest, tag, comm, req);
}

int MPI_Send(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm)
{
    if (count > 0 && is_relay_ctrl(type, tag, comm)) capture(buf, (size_t)count);
    return PMPI_Send(buf, count, type, dest, tag, comm);
}
