/* Built with CUDA: the CUDA runtime is loaded with dlopen when relay
 * starts, never linked, so a program that uses no GPU starts where
 * libcudart is absent. No library, a library without one of the calls, no
 * driver or no device all mean zero devices, never an error.
 *
 * Only CUDA's headers are used: the types and prototypes of the calls
 * are CUDA's own (cudaDeviceProp's layout changes between CUDA versions),
 * and each call is looked up under the name a link against libcudart
 * would bind (CUDA 12 maps some names to _v2 ones with macros), so the
 * calls are exactly those of a linked runtime. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "gpu.h"
#include "log.h"

/* The runtime of the toolkit relay was built with (its soname, set by
 * CMake: a program linked with it has it loaded already, and the loader
 * finds it through LD_LIBRARY_PATH or its cache), then whichever the
 * loader finds, then the build's own copy (for a toolkit at the same path
 * but known to neither: a program built with an rpath to it used to find
 * it through relay's link). */
#ifndef RELAY__CUDART_SONAME
#define RELAY__CUDART_SONAME "libcudart.so"
#endif
#ifndef RELAY__CUDART_PATH
#define RELAY__CUDART_PATH RELAY__CUDART_SONAME
#endif

/* The symbol a call to f binds: f after macro expansion. */
#define SYMBOL(f) SYMBOL_(f)
#define SYMBOL_(f) #f

typedef cudaError_t (*count_fn)(int *);
typedef cudaError_t (*props_fn)(struct cudaDeviceProp *, int);
typedef cudaError_t (*set_fn)(int);

/* Written by relay_init before any worker thread starts; read after. */
static struct {
    int tried;
    count_fn count;
    props_fn props;
    set_fn set;
} R;

/* The three calls from the library handle h: 0, or -1 naming the first
 * one missing in missing. */
static int resolve(void *h, const char **missing)
{
    static const char *const names[] = {SYMBOL(cudaGetDeviceCount), SYMBOL(cudaGetDeviceProperties),
                                        SYMBOL(cudaSetDevice)};
    void *f[3];
    for (int i = 0; i < 3; i++) {
        f[i] = dlsym(h, names[i]);
        if (!f[i]) {
            *missing = names[i];
            return -1;
        }
    }
    /* POSIX guarantees a dlsym result converts to a function pointer. */
    memcpy(&R.count, &f[0], sizeof f[0]);
    memcpy(&R.props, &f[1], sizeof f[1]);
    memcpy(&R.set, &f[2], sizeof f[2]);
    return 0;
}

int relay__gpu_backend_load(const char *const *names)
{
    static const char *const dflt[] = {RELAY__CUDART_SONAME, "libcudart.so", RELAY__CUDART_PATH,
                                       NULL};
    if (!names && R.tried) return R.count ? 0 : -1;
    memset(&R, 0, sizeof R);
    R.tried = 1;
    char tried[512] = "";
    const char *err = "nothing to try";
    for (const char *const *n = names ? names : dflt; *n; n++) {
        size_t len = strlen(tried);
        snprintf(tried + len, sizeof tried - len, "%s%s", len ? ", " : "", *n);
        /* Never closed: the runtime tears itself down at exit. */
        void *h = dlopen(*n, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            err = dlerror();
            continue;
        }
        const char *missing = NULL;
        if (resolve(h, &missing) == 0) {
            relay__log(RELAY__LOG_DEBUG, "gpu: CUDA runtime %s loaded", *n);
            return 0;
        }
        relay__log(RELAY__LOG_INFO, "gpu: %s has no %s: not used as the CUDA runtime", *n, missing);
        dlclose(h); /* not used: nothing of it is kept */
        err = "no library with every call relay needs";
    }
    relay__log(RELAY__LOG_DEBUG, "gpu: no CUDA runtime (tried %s; last: %s): no GPUs", tried,
               err ? err : "?");
    return -1;
}

int relay__gpu_backend_count(void)
{
    int n = 0;
    if (!R.count || R.count(&n) != cudaSuccess) return 0;
    return n;
}

int relay__gpu_backend_uuid(int dev, unsigned char uuid[RELAY__GPU_UUID_BYTES])
{
    /* Room to spare: the runtime found may be another CUDA version's (a
     * plain libcudart.so), whose cudaDeviceProp may be larger; name and
     * uuid lead it in every version. */
    union {
        struct cudaDeviceProp prop;
        unsigned char room[8192];
    } p;
    if (!R.props || R.props(&p.prop, dev) != cudaSuccess) return -1;
    memcpy(uuid, p.prop.uuid.bytes, RELAY__GPU_UUID_BYTES);
    return 0;
}

int relay__gpu_backend_set(int dev)
{
    if (!R.set) return -1;
    cudaError_t e = R.set(dev);
    return e == cudaSuccess ? 0 : (int)e;
}
