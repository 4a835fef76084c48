/* Spilling on a full disk, on a tmpfs of 4 MiB made for the test (root
 * only: skipped otherwise). One process, no mpirun.
 *
 *   test_spill_full   the disk is full: spills fail cleanly (objects stay
 *                     in memory and read right, no file left, no HDF5 id
 *                     open), relay_object_save fails the same way (and to
 *                     an unwritable path); once space is back, spilling
 *                     works again in the same run
 *
 * The parent mounts the tmpfs and runs the test in a child whose stderr it
 * keeps: it unmounts whatever the child did, and fails when HDF5 printed
 * "infinite loop closing library" at the child's exit (ids left open or
 * memory HDF5 could not free). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>

#include "testutil.h"

#define KB ((size_t)1024)
#define SIZE (256 * KB) /* above the inline limit: a store object */
/* Longest wait for one step (the store tries again once a second); the
 * whole test stays within the parent's 45 s. */
#define WAIT_S 15.0

static char dir[256], filler[300];

/* relay-*.h5 files in dir. */
static int spill_files(void)
{
    DIR *d = opendir(dir);
    int count = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        count += !strncmp(e->d_name, "relay-", 6) && strstr(e->d_name, ".h5") != NULL;
    if (d) closedir(d);
    return count;
}

/* Fill the file system: writes until ENOSPC. */
static void fill(void)
{
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    static char block[64 * 1024];
    for (;;) {
        ssize_t w = write(fd, block, sizeof block);
        if (w > 0) continue;
        CHECK(w < 0 && errno == ENOSPC);
        break;
    }
    /* The last bytes a block write could not take. */
    while (write(fd, block, 512) > 0)
        ;
    close(fd);
}

/* Fill it but for about room bytes. */
static void fill_leaving(off_t room)
{
    fill();
    struct stat st;
    CHECK(stat(filler, &st) == 0);
    CHECK(truncate(filler, st.st_size > room ? st.st_size - room : 0) == 0);
}

static long open_hdf5_ids(void)
{
    return (long)H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
}

/* Between two tries of the store (one a second) no spill file is there
 * and no HDF5 id is open: seen within the timeout, or never. */
static int nothing_left(void)
{
    for (double end = test_now() + WAIT_S; test_now() < end; test_sleep(0.01))
        if (spill_files() == 0 && open_hdf5_ids() == 0) return 1;
    return 0;
}

static relay_stats_t wait_stats(size_t field_off, uint64_t at_least)
{
    relay_stats_t s = test_stats();
    for (double end = test_now() + WAIT_S;
         *(uint64_t *)((char *)&s + field_off) < at_least && test_now() < end; test_sleep(0.01))
        s = test_stats();
    return s;
}

static int child(void)
{
    int argc = 0;
    char **argv = NULL;
    /* Room for HDF5 to make the file, not for the object. */
    fill_leaving(128 * KB);
    relay_config_t c = {.field_mask = RELAY_CONFIG_SPILL_DIR | RELAY_CONFIG_STORE_BUDGET |
                                      RELAY_CONFIG_INLINE_MAX,
                        .spill_dir = dir,
                        .store_budget = 0,
                        .inline_max = 4 * KB};
    CHECK_OK(relay_init(&argc, &argv, &c));

    /* Full: the spill fails, the object stays in memory and reads right. */
    unsigned char *b = malloc(SIZE);
    CHECK(b != NULL);
    test_fill(b, SIZE, 5);
    relay_ref_t r;
    CHECK_OK(relay_put(b, SIZE, &r));
    relay_stats_t s = wait_stats(offsetof(relay_stats_t, spill_failures), 1);
    CHECK_GT(s.spill_failures, 0);
    CHECK_EQ(s.spill_writes, 0);
    CHECK_EQ(s.spilled_objects, 0);
    CHECK(nothing_left());
    test_check_pattern(r, SIZE, 5);
    /* relay_object_save there: the file it started goes again. */
    relay_object_t o;
    char saved[300];
    snprintf(saved, sizeof saved, "%s/saved.h5", dir);
    CHECK_OK(relay_get(r, TEST_LONG_S, &o));
    CHECK_STATUS(relay_object_save(o, saved, "x"), RELAY_ERR_IO);
    CHECK(access(saved, F_OK) != 0);
    CHECK_OK(relay_object_free(o));

    /* No room at all: the same. */
    fill();
    uint64_t fails = s.spill_failures;
    s = wait_stats(offsetof(relay_stats_t, spill_failures), fails + 1);
    CHECK_GT(s.spill_failures, fails);
    CHECK_EQ(s.spill_writes, 0);
    CHECK(nothing_left());

    /* relay_object_save: into the full disk, and where no file can be. */
    CHECK_OK(relay_get(r, TEST_LONG_S, &o));
    CHECK_STATUS(relay_object_save(o, saved, "x"), RELAY_ERR_IO);
    CHECK_CONTAINS(relay_last_error(), "No space");
    CHECK(access(saved, F_OK) != 0);
    CHECK_STATUS(relay_object_save(o, "/proc/relay-test-unwritable.h5", "x"), RELAY_ERR_IO);
    CHECK_STATUS(relay_object_save(o, "/nonexistent-dir/x.h5", "x"), RELAY_ERR_IO);
    CHECK(nothing_left());
    CHECK_OK(relay_object_free(o)); /* an object in use is not spilled */

    /* Space back: a later spill makes the file and writes. */
    CHECK(unlink(filler) == 0);
    s = wait_stats(offsetof(relay_stats_t, spill_writes), 1);
    CHECK_GT(s.spill_writes, 0);
    s = wait_stats(offsetof(relay_stats_t, spilled_objects), 1);
    CHECK_EQ(s.spilled_objects, 1);
    CHECK_EQ(spill_files(), 1);
    test_check_pattern(r, SIZE, 5); /* read back from the file */
    s = test_stats();
    CHECK_GT(s.spill_reads, 0);
    CHECK_OK(relay_get(r, TEST_LONG_S, &o));
    CHECK_OK(relay_object_save(o, saved, "x"));
    CHECK_OK(relay_object_free(o));
    CHECK(unlink(saved) == 0);

    /* Full again while the file holds an object: the write fails, the file
     * and what it holds stay. */
    fill();
    relay_ref_t r2;
    test_fill(b, SIZE, 6);
    fails = s.spill_failures;
    CHECK_OK(relay_put(b, SIZE, &r2));
    s = wait_stats(offsetof(relay_stats_t, spill_failures), fails + 1);
    CHECK_GT(s.spill_failures, fails);
    CHECK_EQ(spill_files(), 1);
    test_check_pattern(r2, SIZE, 6);
    test_check_pattern(r, SIZE, 5);
    CHECK(unlink(filler) == 0);
    relay_ref_t both[2] = {r, r2};
    CHECK_OK(relay_release_many(both, 2));
    free(b);

    CHECK_OK(relay_finalize());
    CHECK(nothing_left());
    printf("spill_full: PASS\n");
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (geteuid() != 0) {
        printf("spill_full: SKIPPED: mounting a small tmpfs needs root\n");
        return TEST_SKIP;
    }
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/relay-spill-full-XXXXXX", base && *base ? base : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=4m") != 0) {
        printf("spill_full: SKIPPED: cannot mount a tmpfs on %s: %s\n", dir, strerror(errno));
        rmdir(dir);
        return TEST_SKIP;
    }
    snprintf(filler, sizeof filler, "%s/filler", dir);
    char log[300];
    snprintf(log, sizeof log, "%s.stderr", dir);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 2) < 0) _exit(3);
        close(fd);
        exit(child());
    }
    /* Within the test's timeout, so that the tmpfs is unmounted anyway. */
    int status = 0;
    double end = test_now() + 45;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (test_now() > end) {
            fprintf(stderr, "spill_full: the test did not finish in 45 s: stopped\n");
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        test_sleep(0.05);
    }
    int unmounted = umount2(dir, MNT_DETACH) == 0;
    rmdir(dir);
    /* What the child said, then whether HDF5 complained at its exit. */
    FILE *f = fopen(log, "r");
    char line[1024];
    int loop = 0;
    while (f && fgets(line, sizeof line, f)) {
        fputs(line, stderr);
        loop |= strstr(line, "infinite loop closing library") != NULL;
    }
    if (f) fclose(f);
    unlink(log);
    CHECK(unmounted);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (loop) {
        fprintf(stderr, "spill_full: HDF5 left ids or memory behind at exit\n");
        return 1;
    }
    return 0;
}
