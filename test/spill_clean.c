/* Spill files that ended runs left behind, looked for at relay_init (one
 * process, no mpirun). In a directory of its own the test lays out files
 * of every kind, then starts relay twice:
 *   RELAY_SPILL_CLEAN=0   nothing is removed; all of them are reported
 *   default (1)           the provably stale ones go: written on this host
 *                         by a process that is gone, unlocked, not kept;
 *                         another host's, a live process's, a locked one,
 *                         a kept (read-only) one and an older relay's
 *                         name stay, and are reported
 * Each time the log line is checked (stderr is kept in a file). */
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spill.h"
#include "testutil.h"

static char dir[256], host[RELAY__SPILL_HOST_MAX];

enum { STALE0, STALE1, OTHER_HOST, LIVE, LOCKED, KEPT, OLD_NAME, NFILES };
static char files[NFILES][512];

static long long dead_pid(void)
{
    pid_t p = fork();
    CHECK(p >= 0);
    if (p == 0) _exit(0);
    CHECK(waitpid(p, NULL, 0) == p);
    return (long long)p;
}

static void make(int i, const char *h, long long pid, const char *stamp, int rank)
{
    snprintf(files[i], sizeof files[i], "%s/relay-%s-%lld-%s-%lld-%d.h5", dir, h, pid, stamp, pid,
             rank);
    FILE *f = fopen(files[i], "w");
    CHECK(f != NULL);
    for (int k = 0; k < 1000; k++)
        fputc('x', f);
    fclose(f);
}

static int exists(int i)
{
    return access(files[i], F_OK) == 0;
}

/* relay_init and relay_finalize with stderr in a file; what it said. */
static void run_relay(int clean, char *said, size_t n)
{
    char log[300];
    snprintf(log, sizeof log, "%s.stderr", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    relay_config_t c = {.field_mask = RELAY_CONFIG_SPILL_DIR | RELAY_CONFIG_LOG_LEVEL,
                        .spill_dir = dir,
                        .log_level = 2};
    if (clean >= 0) {
        c.field_mask |= RELAY_CONFIG_SPILL_CLEAN;
        c.spill_clean = clean;
    }
    int rc = relay_init(NULL, NULL, &c);
    if (rc == RELAY_OK) rc = relay_finalize();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(log, "r");
    CHECK(f != NULL);
    size_t len = fread(said, 1, n - 1, f);
    said[len] = '\0';
    fclose(f);
    unlink(log);
    fputs(said, stderr);
    CHECK_OK(rc);
}

int main(int argc, char **argv)
{
    long long dead = dead_pid(); /* before MPI, which may not like fork */
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/relay-spill-clean-XXXXXX", base && *base ? base : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    relay__spill_hostname(host, sizeof host);

    long long me = (long long)getpid();
    make(STALE0, host, dead, "1700000000", 0);
    make(STALE1, host, dead, "1700000000", 1);
    make(OTHER_HOST, "other-host.invalid", dead, "1700000001", 0);
    make(LIVE, host, me, "1700000002", 0);
    make(LOCKED, host, dead, "1700000003", 0);
    make(KEPT, host, dead, "1700000004", 0);
    CHECK(chmod(files[KEPT], 0400) == 0);
    snprintf(files[OLD_NAME], sizeof files[OLD_NAME], "%s/relay-1700000005-%lld-0.h5", dir, dead);
    FILE *f = fopen(files[OLD_NAME], "w");
    CHECK(f != NULL);
    fclose(f);
    /* Not spill files: never looked at. */
    char other[2][300];
    snprintf(other[0], sizeof other[0], "%s/notes.txt", dir);
    snprintf(other[1], sizeof other[1], "%s/relay-notes.txt", dir);
    for (int i = 0; i < 2; i++) {
        f = fopen(other[i], "w");
        CHECK(f != NULL);
        fclose(f);
    }
    /* A writer still at work holds a lock on its file. */
    int lock_fd = open(files[LOCKED], O_RDONLY);
    CHECK(lock_fd >= 0);
    CHECK(flock(lock_fd, LOCK_EX) == 0);

    char said[8192];
    run_relay(0, said, sizeof said);
    for (int i = 0; i < NFILES; i++)
        CHECK(exists(i));
    CHECK_CONTAINS(said, "7 spill file(s)");
    CHECK_CONTAINS(said, "from other runs in");
    CHECK(strstr(said, "removed") == NULL);

    run_relay(-1, said, sizeof said); /* the default: remove */
    CHECK(!exists(STALE0));
    CHECK(!exists(STALE1));
    for (int i = OTHER_HOST; i < NFILES; i++)
        CHECK(exists(i));
    CHECK_CONTAINS(said, "removed 2 stale spill file(s)");
    CHECK_CONTAINS(said, "5 spill file(s)");
    for (int i = 0; i < 2; i++)
        CHECK(access(other[i], F_OK) == 0);

    /* Once the writer lets go, its file is stale too. */
    close(lock_fd);
    run_relay(1, said, sizeof said);
    CHECK(!exists(LOCKED));
    CHECK_CONTAINS(said, "removed 1 stale spill file(s)");
    CHECK_CONTAINS(said, "4 spill file(s)");

    for (int i = 0; i < NFILES; i++)
        unlink(files[i]);
    for (int i = 0; i < 2; i++)
        unlink(other[i]);
    CHECK(rmdir(dir) == 0);
    MPI_Finalize();
    printf("spill_clean: PASS\n");
    return 0;
}
