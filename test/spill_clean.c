/* Spill files that ended runs left behind, looked for at relay_init (one
 * process, no mpirun). In a directory of its own the test lays out files
 * of every kind, then starts relay twice:
 *   RELAY_SPILL_CLEAN=0   nothing is removed; all of them are reported
 *   default (1)           the provably stale ones go: written on this host
 *                         by a process that is gone, unlocked, not kept;
 *                         another host's (another name, or this name
 *                         with another boot id), a live process's, one locked as
 *                         relay locks its file, one locked as HDF5 does, a
 *                         kept (read-only) one and an older relay's name
 *                         stay, and are reported
 *   once the locks go     the locked ones go too
 *   a running relay       holds a lock on its spill file; a cleaner of
 *                         another job leaves it alone
 * Each time the log line is checked (stderr is kept in a file). */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spill.h"
#include "testutil.h"

static char dir[256], host[RELAY__SPILL_HOST_MAX];

enum { STALE0, STALE1, OTHER_HOST, OTHER_BOOT, LIVE, LOCKED, LOCKED_HDF5, KEPT, OLD_NAME, NFILES };
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

/* The spill file of this process's relay (a name of this host and pid). */
static int my_spill_file(char *path, size_t n)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "relay-%s-%lld-", host, (long long)getpid());
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) {
            snprintf(path, n, "%s/%s", dir, e->d_name);
            found++;
        }
    if (d) closedir(d);
    return found;
}

static void live_file_locked(void)
{
    relay_config_t c = {.field_mask = RELAY_CONFIG_SPILL_DIR | RELAY_CONFIG_STORE_BUDGET |
                                      RELAY_CONFIG_INLINE_MAX,
                        .spill_dir = dir,
                        .store_budget = 0,
                        .inline_max = 1024};
    CHECK_OK(relay_init(NULL, NULL, &c));
    unsigned char b[8192];
    test_fill(b, sizeof b, 9);
    relay_ref_t r;
    CHECK_OK(relay_put(b, sizeof b, &r));
    relay_stats_t s = test_stats();
    for (double end = test_now() + TEST_LONG_S; !s.spill_writes && test_now() < end;
         test_sleep(0.01))
        s = test_stats();
    CHECK_GT(s.spill_writes, 0);
    char path[600];
    CHECK_EQ(my_spill_file(path, sizeof path), 1);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    CHECK(fcntl(fd, F_OFD_GETLK, &l) == 0);
    CHECK(l.l_type != F_UNLCK);
    close(fd);
    /* Another job's cleaner on this host: the writer lives, the file stays. */
    relay__spill_clean_t found;
    relay__spill_clean(dir, "1-1", 1, &found);
    CHECK_EQ(found.removed, 0);
    CHECK_EQ(my_spill_file(path, sizeof path), 1);
    test_check_pattern(r, sizeof b, 9);
    CHECK_OK(relay_release(r));
    CHECK_OK(relay_finalize());
    CHECK_EQ(my_spill_file(path, sizeof path), 0);
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
    /* This host's name with another boot id: another machine of the same
     * name, or this one before a reboot. */
    char other_boot[RELAY__SPILL_HOST_MAX + 16];
    size_t hl = strlen(host);
    snprintf(other_boot, sizeof other_boot, "%s", host);
    if (hl > 9 && host[hl - 9] == '.')
        memcpy(other_boot + hl - 8, strcmp(host + hl - 8, "00000000") ? "00000000" : "11111111", 8);
    else
        snprintf(other_boot + hl, sizeof other_boot - hl, ".00000000");
    make(OTHER_BOOT, other_boot, dead, "1700000001", 1);
    make(LIVE, host, me, "1700000002", 0);
    make(LOCKED, host, dead, "1700000003", 0);
    make(LOCKED_HDF5, host, dead, "1700000003", 1);
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
    /* A writer still at work holds a lock on its file: relay's kind, or
     * HDF5's. */
    int lock_fd = open(files[LOCKED], O_RDWR), hdf5_fd = open(files[LOCKED_HDF5], O_RDONLY);
    CHECK(lock_fd >= 0 && hdf5_fd >= 0);
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    CHECK(fcntl(lock_fd, F_OFD_SETLK, &l) == 0);
    CHECK(flock(hdf5_fd, LOCK_EX) == 0);

    char said[8192];
    run_relay(0, said, sizeof said);
    for (int i = 0; i < NFILES; i++)
        CHECK(exists(i));
    CHECK_CONTAINS(said, "9 spill file(s)");
    CHECK_CONTAINS(said, "from other runs in");
    CHECK(strstr(said, "removed") == NULL);

    run_relay(-1, said, sizeof said); /* the default: remove */
    CHECK(!exists(STALE0));
    CHECK(!exists(STALE1));
    for (int i = OTHER_HOST; i < NFILES; i++)
        CHECK(exists(i));
    CHECK_CONTAINS(said, "removed 2 stale spill file(s)");
    CHECK_CONTAINS(said, "7 spill file(s)");
    for (int i = 0; i < 2; i++)
        CHECK(access(other[i], F_OK) == 0);

    /* Once the writers let go, their files are stale too. */
    close(lock_fd);
    close(hdf5_fd);
    run_relay(1, said, sizeof said);
    CHECK(!exists(LOCKED));
    CHECK(!exists(LOCKED_HDF5));
    CHECK_CONTAINS(said, "removed 2 stale spill file(s)");
    CHECK_CONTAINS(said, "5 spill file(s)");

    for (int i = 0; i < NFILES; i++)
        unlink(files[i]);
    for (int i = 0; i < 2; i++)
        unlink(other[i]);
    live_file_locked();
    CHECK(rmdir(dir) == 0);
    MPI_Finalize();
    printf("spill_clean: PASS\n");
    return 0;
}
