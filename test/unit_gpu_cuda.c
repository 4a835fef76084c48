/* The CUDA runtime loader (gpu_cuda.c), without a device:
 *   - no library: zero devices, and a debug line that says so;
 *   - a library lacking one of the calls: not used, zero devices;
 *   - a stand-in runtime the tests build (argv[1]; argv[2] lacks
 *     cudaSetDevice): its two devices and their UUIDs, as relay would use
 *     the real one. */
#include <fcntl.h>
#include <unistd.h>

#include "gpu.h"
#include "log.h"
#include "runtime.h"
#include "testutil.h"

/* What relay logs while fn runs (stderr into a file). */
static void logged(int (*fn)(const char *), const char *arg, int want, char *out, size_t n)
{
    char path[] = "/tmp/relay-unit-gpu-cuda-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    CHECK(saved >= 0 && dup2(fd, STDERR_FILENO) >= 0);
    int rc = fn(arg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t got = pread(fd, out, n - 1, 0);
    out[got > 0 ? got : 0] = '\0';
    close(fd);
    unlink(path);
    fprintf(stderr, "%s", out); /* shown again, for the record */
    CHECK_EQ(rc, want);
}

static int load(const char *lib)
{
    const char *names[] = {lib, NULL};
    return relay__gpu_backend_load(names);
}

static void expect_none(void)
{
    unsigned char uuid[RELAY__GPU_UUID_BYTES];
    CHECK_EQ(relay__gpu_backend_count(), 0);
    CHECK_EQ(relay__gpu_backend_uuid(0, uuid), -1);
    CHECK(relay__gpu_backend_set(0) != 0);
}

int main(int argc, char **argv)
{
    CHECK_EQ(argc, 3);
    relay__g.cfg.log_level = RELAY__LOG_DEBUG;
    char log[4096];

    logged(load, "/nonexistent/libcudart.so.99", -1, log, sizeof log);
    CHECK_CONTAINS(log, "debug: gpu: no CUDA runtime");
    CHECK_CONTAINS(log, "/nonexistent/libcudart.so.99");
    CHECK_CONTAINS(log, "no GPUs");
    expect_none();

    logged(load, argv[1], 0, log, sizeof log);
    CHECK_CONTAINS(log, "CUDA runtime");
    CHECK_EQ(relay__gpu_backend_count(), 2);
    unsigned char uuid[RELAY__GPU_UUID_BYTES], want[RELAY__GPU_UUID_BYTES];
    for (int d = 0; d < 2; d++) {
        memset(uuid, 0, sizeof uuid);
        memset(want, 0xA0 + 0x10 * d, sizeof want);
        CHECK_EQ(relay__gpu_backend_uuid(d, uuid), 0);
        CHECK_MEMEQ(uuid, want, sizeof want);
    }
    CHECK_EQ(relay__gpu_backend_uuid(2, uuid), -1);
    CHECK_EQ(relay__gpu_backend_set(1), 0);
    CHECK(relay__gpu_backend_set(2) != 0);

    /* Loading again replaces what was loaded. */
    logged(load, argv[2], -1, log, sizeof log);
    CHECK_CONTAINS(log, "has no cudaSetDevice");
    expect_none();

    printf("unit_gpu_cuda: PASS\n");
    return 0;
}
