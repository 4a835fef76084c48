/* How a node's GPUs are shared among its ranks (relay__gpu_share, the
 * rule gpu.c applies to the UUIDs the ranks exchange): without devices,
 * every layout a launcher can produce. */
#include "gpu.h"
#include "testutil.h"

#define U RELAY__GPU_UUID_BYTES

/* uuids of the devices each rank sees, as letters: "AB" is A then B. */
static int share(int nlocal, const int *hosts, const char *const *seen, int me, int *owned)
{
    int ndev[8];
    unsigned char uuids[64 * U];
    memset(uuids, 0, sizeof uuids);
    int k = 0;
    for (int i = 0; i < nlocal; i++) {
        ndev[i] = (int)strlen(seen[i]);
        for (int d = 0; d < ndev[i]; d++, k++)
            uuids[(size_t)k * U] = (unsigned char)seen[i][d];
    }
    return relay__gpu_share(nlocal, hosts, ndev, uuids, me, owned);
}

static void expect(int nlocal, const int *hosts, const char *const *seen, int me, const int *want,
                   int nwant)
{
    int owned[64];
    int n = share(nlocal, hosts, seen, me, owned);
    CHECK_EQ(n, nwant);
    for (int i = 0; i < n; i++)
        CHECK_EQ(owned[i], want[i]);
}

/* The physical id relay__gpu_visible_entry gives ordinal for visible. */
static void expect_entry(const char *visible, int ordinal, const char *want, int from_visible)
{
    char buf[RELAY_GPU_NAME_MAX];
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(relay__gpu_visible_entry(visible, ordinal, buf, sizeof buf), from_visible);
    CHECK_STREQ(buf, want);
}

/* CUDA_VISIBLE_DEVICES as Ray reports it: the entry of each ordinal. */
static void check_visible_entries(void)
{
    expect_entry("4,5,6", 0, "4", 1);
    expect_entry("4,5,6", 2, "6", 1);
    expect_entry("4,5,6", 3, "3", 0); /* no such entry: the ordinal */
    expect_entry(NULL, 5, "5", 0);    /* unset: ordinals are physical ids */
    expect_entry("", 0, "0", 0);
    expect_entry(" 7 , 3", 1, "3", 1);
    expect_entry("4,,6", 1, "1", 0);
    const char *uuids = "GPU-5d2c6a1e-0f4b-2c3d-8e9f-0123456789ab,MIG-GPU-5d2c6a1e/1/0,2";
    expect_entry(uuids, 0, "GPU-5d2c6a1e-0f4b-2c3d-8e9f-0123456789ab", 1);
    expect_entry(uuids, 1, "MIG-GPU-5d2c6a1e/1/0", 1);
    expect_entry(uuids, 2, "2", 1);
    /* Cut to the buffer. */
    char small[4];
    CHECK_EQ(relay__gpu_visible_entry(uuids, 0, small, sizeof small), 1);
    CHECK_STREQ(small, "GPU");
}

int main(void)
{
    check_visible_entries();

    const int all2[] = {1, 1}, all3[] = {1, 1, 1}, driver3[] = {0, 1, 1};

    /* mpirun: both ranks see all four devices; they alternate. */
    const char *const four[] = {"ABCD", "ABCD"};
    expect(2, all2, four, 0, (const int[]){0, 2}, 2);
    expect(2, all2, four, 1, (const int[]){1, 3}, 2);

    /* Slurm --gpus-per-task: each rank sees its own device as ordinal 0. */
    const char *const own[] = {"A", "B"};
    expect(2, all2, own, 0, (const int[]){0}, 1);
    expect(2, all2, own, 1, (const int[]){0}, 1);

    /* The driver hosts no workers: it gets none, the workers share. */
    const char *const two[] = {"AB", "AB", "AB"};
    expect(3, driver3, two, 0, NULL, 0);
    expect(3, driver3, two, 1, (const int[]){0}, 1);
    expect(3, driver3, two, 2, (const int[]){1}, 1);

    /* Fewer devices than ranks: a device is never given twice. */
    const char *const one[] = {"A", "A", "A"};
    expect(3, all3, one, 0, (const int[]){0}, 1);
    expect(3, all3, one, 1, NULL, 0);
    expect(3, all3, one, 2, NULL, 0);

    /* Partial views: B goes to the rank that has none yet, under its own
     * ordinal there. */
    const char *const mixed[] = {"AB", "B"};
    expect(2, all2, mixed, 0, (const int[]){0}, 1);
    expect(2, all2, mixed, 1, (const int[]){0}, 1);

    /* No devices at all. */
    const char *const none[] = {"", ""};
    expect(2, all2, none, 0, NULL, 0);

    printf("unit_gpu_share: PASS\n");
    return 0;
}
