/* Spill file names (spill_name.c): made and read back, and every other
 * name refused, so that relay__spill_clean never judges a file by a name
 * it misread. One process, no MPI. */
#include <ctype.h>

#include "spill.h"
#include "testutil.h"

static relay__spill_name_t name(const char *host, long long pid, const char *job, int rank)
{
    relay__spill_name_t s = {.pid = pid, .rank = rank};
    snprintf(s.host, sizeof s.host, "%s", host);
    snprintf(s.job, sizeof s.job, "%s", job);
    return s;
}

static void round_trip(const char *host, long long pid, const char *job, int rank, const char *want)
{
    relay__spill_name_t s = name(host, pid, job, rank), back;
    char file[256];
    CHECK_EQ(relay__spill_name_make(file, sizeof file, &s), 0);
    CHECK(strcmp(file, want) == 0);
    CHECK_EQ(relay__spill_name_parse(file, &back), 0);
    CHECK(strcmp(back.host, host) == 0);
    CHECK(strcmp(back.job, job) == 0);
    CHECK_EQ(back.pid, pid);
    CHECK_EQ(back.rank, rank);
}

static void refused(const char *file)
{
    relay__spill_name_t s;
    if (relay__spill_name_parse(file, &s) == 0) {
        fprintf(stderr, "'%s' was read as host '%s', pid %lld, job '%s', rank %d\n", file, s.host,
                s.pid, s.job, s.rank);
        CHECK(!"a name not of the form was accepted");
    }
}

int main(void)
{
    round_trip("node07", 4242, "1733400000-4240", 3, "relay-node07-4242-1733400000-4240-3.h5");
    /* Host names with '-' and '.': the name is read from the right. */
    round_trip("cn-12-3.cluster.example", 17, "987654.0-12001", 0,
               "relay-cn-12-3.cluster.example-17-987654.0-12001-0.h5");
    round_trip("a", 1, "x-1", 1048575, "relay-a-1-x-1-1048575.h5");

    /* What cannot be read back is not made. */
    char file[256];
    relay__spill_name_t bad = name("node", 5, "no_pid0", 0);
    CHECK_EQ(relay__spill_name_make(file, sizeof file, &bad), -1);
    bad = name("node", 5, "a-b-7", 0); /* a '-' in the stamp */
    CHECK_EQ(relay__spill_name_make(file, sizeof file, &bad), -1);
    bad = name("", 5, "123-7", 0);
    CHECK_EQ(relay__spill_name_make(file, sizeof file, &bad), -1);
    bad = name("node", 5, "123-7", 0);
    CHECK_EQ(relay__spill_name_make(file, 10, &bad), -1); /* too small */

    /* Older relays' names and anything else: refused. */
    refused("relay-1733400000-4240-0.h5");
    refused("relay-4242.7-4240-0.h5");
    refused("relay-node-x-1733400000-4240-0.h5");   /* pid not a number */
    refused("relay-node-12-1733400000-4240-0.h5x"); /* suffix */
    refused("relay-node-12-1733400000-4240-.h5");   /* no rank */
    refused("relay--12-1733400000-4240-0.h5");      /* no host */
    refused("relay-no de-12-1733400000-4240-0.h5"); /* a space in the host */
    refused("relay-node-0-1733400000-4240-0.h5");   /* pid 0 */
    refused("relay-node-12-1733400000-0-0.h5");     /* rank 0's pid 0 */
    refused("relay-node-12345678901-17-4240-0.h5"); /* pid of 11 digits */
    /* Beyond a pid_t: as one, negative (kill() would take a process group). */
    refused("relay-node-4294967295-1733400000-4240-0.h5");
    refused("relay-node-2147483648-1733400000-4240-0.h5");
    refused("relay-node-12-1733400000-4294967295-0.h5");
    round_trip("node", 2147483647, "1733400000-2147483647", 0,
               "relay-node-2147483647-1733400000-2147483647-0.h5");
    refused("relay-.h5");
    refused("relay-");
    refused("other-node-12-1733400000-4240-0.h5");
    refused("");

    /* Host names and job stamps as names carry them. */
    char buf[RELAY__SPILL_HOST_MAX];
    relay__spill_hostname(buf, sizeof buf);
    CHECK(buf[0] != '\0');
    for (const char *p = buf; *p; p++)
        CHECK(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_');
    /* Then this boot's id, where Linux says it. */
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    char boot[64] = "";
    if (f && fgets(boot, sizeof boot, f)) {
        size_t len = strlen(buf);
        CHECK(len > 9 && buf[len - 9] == '.');
        CHECK(strncmp(buf + len - 8, boot, 8) == 0);
        /* However long the host's name, the boot id fits: one character
         * of the name is left in 11 bytes. */
        char small[11];
        relay__spill_hostname(small, sizeof small);
        CHECK(strlen(small) == 10 && small[1] == '.' && strncmp(small + 2, boot, 8) == 0);
    }
    if (f) fclose(f);
    relay__spill_token(buf, sizeof buf, "12-3 a/b.c_d");
    CHECK(strcmp(buf, "12_3_a_b.c_d") == 0);
    relay__spill_token(buf, 4, "abcdef");
    CHECK(strcmp(buf, "abc") == 0);
    printf("unit_spill_name: PASS\n");
    return 0;
}
