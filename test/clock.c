/* The job clock (base/clock.c) and the log lines that carry it: after
 * relay_init every rank's clock agrees with rank 0's within what messages
 * can tell (a message is never received before it was sent, on the job
 * clock, beyond the measured error), and a log line reads
 *   [relay <seconds, 6 decimals> r<rank> <host>] <level>: <message>
 * with a time between the clock's values before and after the call. */
#include <regex.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "log.h"

/* Slack for the rounding of the offset (ns) on top of the measured error. */
#define SLACK 1e-6

static void check_arrival(int rank, double received, double sent, double err)
{
    if (received + err + SLACK >= sent) return;
    fprintf(stderr, "rank %d: received at %.9f a message sent at %.9f (error %.9f)\n", rank,
            received, sent, err);
    CHECK(!"a message arrived before it was sent");
}

/* A message stamped with the sender's job clock must arrive after it was
 * sent on the receiver's job clock: both directions bound the offset. */
static void check_causality(int rank, int size)
{
    for (int round = 0; round < 20; round++) {
        for (int r = 1; r < size; r++) {
            /* The send time, and the sender's error (rank r's offset). */
            double msg[2];
            if (rank == 0) {
                msg[0] = relay__clock_now(), msg[1] = 0;
                MPI_Send(msg, 2, MPI_DOUBLE, r, 1, MPI_COMM_WORLD);
                MPI_Recv(msg, 2, MPI_DOUBLE, r, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                check_arrival(rank, relay__clock_now(), msg[0], msg[1]);
            } else if (rank == r) {
                MPI_Recv(msg, 2, MPI_DOUBLE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                check_arrival(rank, relay__clock_now(), msg[0], relay__clock_error());
                msg[0] = relay__clock_now(), msg[1] = relay__clock_error();
                MPI_Send(msg, 2, MPI_DOUBLE, 0, 2, MPI_COMM_WORLD);
            }
        }
    }
}

/* Capture what relay__log writes to stderr into a file and read it back. */
static void check_log_line(int rank)
{
    char path[] = "/tmp/relay-clock-log-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    CHECK(saved >= 0);
    CHECK(dup2(fd, STDERR_FILENO) >= 0);
    double before = relay__clock_now();
    relay__log(RELAY__LOG_WARN, "clock test line %d", rank);
    double after = relay__clock_now();
    fflush(stderr);
    CHECK(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    char line[512] = "";
    FILE *f = fdopen(fd, "r");
    CHECK(f != NULL);
    rewind(f);
    CHECK(fgets(line, sizeof line, f) != NULL);
    fclose(f);
    unlink(path);

    char host[256] = "";
    CHECK_EQ(gethostname(host, sizeof host), 0);
    char want[512];
    snprintf(want, sizeof want,
             "^\\[relay ([0-9]+\\.[0-9]{6}) r%d %s\\] warning: clock test line %d\n$", rank, host,
             rank);
    regex_t re;
    regmatch_t m[2];
    CHECK_EQ(regcomp(&re, want, REG_EXTENDED), 0);
    if (regexec(&re, line, 2, m, 0) != 0) {
        fprintf(stderr, "rank %d: log line \"%s\" does not match %s\n", rank, line, want);
        CHECK(!"log line format");
    }
    regfree(&re);
    double t = strtod(line + m[1].rm_so, NULL);
    CHECK(t >= before - 1e-6 && t <= after + 1e-6);
}

int main(int argc, char **argv)
{
    /* Each rank's clock seconds apart, as on different machines: the sync
     * must remove that (a wrong sign or a missed offset breaks causality
     * by seconds). */
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    int world_rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    relay__clock_skew = 3.0 * world_rank - 1.5;
    relay_config_t cfg = {.field_mask = RELAY_CONFIG_LOG_LEVEL, .log_level = 1};
    CHECK_OK(relay_init(&argc, &argv, &cfg));
    int rank, size;
    CHECK_OK(relay_rank(&rank));
    CHECK_OK(relay_size(&size));
    /* Rank 0 is the reference: no error; the others measured one. */
    if (rank == 0) CHECK(relay__clock_error() == 0);
    CHECK(relay__clock_error() >= 0 && relay__clock_error() < 1.0);
    /* The job clock starts at rank 0's init: small and never going back. */
    double a = relay__clock_now(), b = relay__clock_now();
    CHECK(a >= -1.0 && a < 600 && b >= a);
    check_causality(rank, size);
    check_log_line(rank);
    CHECK_OK(relay_finalize());
    MPI_Finalize();
    if (rank == 0) printf("clock and log lines ok on %d ranks\n", size);
    return 0;
}
