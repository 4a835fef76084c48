/* The spill file in HDF5 (see spill.h). */
#include "spill.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "log.h"
#include "object.h"
#include "runtime.h"

#define ATTR_SIZE "relay_size"
#define ATTR_SUM "relay_checksum"
#define ATTR_REFS "relay_refs"
#define OPAQUE_TAG "relay object bytes"

static struct {
    pthread_mutex_t lock; /* every HDF5 call of relay */
    char path[4096];
    hid_t file; /* H5I_INVALID_HID until the first write */
    uint64_t bytes, max_bytes;
    int keep, inited, quiet;
} F = {.lock = PTHREAD_MUTEX_INITIALIZER, .file = H5I_INVALID_HID};

/* ---------------------------------------------------------------------- */
/* Checksum                                                                 */
/* ---------------------------------------------------------------------- */

/* Four independent lanes of multiply-xorshift over 8-byte words: a few
 * bytes per cycle, enough to catch a torn or overwritten dataset. */
uint64_t relay__checksum(const void *p, size_t n)
{
    const uint64_t K = 0x9E3779B97F4A7C15ULL;
    const unsigned char *b = p;
    uint64_t h[4] = {0x243F6A8885A308D3ULL, 0x13198A2E03707344ULL, 0xA4093822299F31D0ULL,
                     0x082EFA98EC4E6C89ULL};
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int l = 0; l < 4; l++) {
            uint64_t w;
            memcpy(&w, b + i + 8 * l, 8);
            h[l] = (h[l] ^ w) * K;
            h[l] ^= h[l] >> 29;
        }
    }
    uint64_t t = 0;
    for (size_t k = 0; i < n; i++, k++)
        t |= (uint64_t)b[i] << (8 * (k % 8));
    uint64_t x = (h[0] ^ (h[1] << 1) ^ (h[2] << 2) ^ (h[3] << 3) ^ t ^ n) * K;
    return x ^ (x >> 31);
}

/* ---------------------------------------------------------------------- */
/* HDF5 helpers (lock held)                                                 */
/* ---------------------------------------------------------------------- */

static hid_t native_type(int dtype)
{
    switch (dtype) {
    case RELAY_INT8:
        return H5T_NATIVE_INT8;
    case RELAY_UINT8:
        return H5T_NATIVE_UINT8;
    case RELAY_INT16:
        return H5T_NATIVE_INT16;
    case RELAY_UINT16:
        return H5T_NATIVE_UINT16;
    case RELAY_INT32:
        return H5T_NATIVE_INT32;
    case RELAY_UINT32:
        return H5T_NATIVE_UINT32;
    case RELAY_INT64:
        return H5T_NATIVE_INT64;
    case RELAY_UINT64:
        return H5T_NATIVE_UINT64;
    case RELAY_FLOAT32:
        return H5T_NATIVE_FLOAT;
    case RELAY_FLOAT64:
        return H5T_NATIVE_DOUBLE;
    default:
        return H5I_INVALID_HID;
    }
}

static void dataset_name(uint64_t id, char *buf, size_t n)
{
    snprintf(buf, n, "o%016llx", (unsigned long long)id);
}

static int put_attr(hid_t obj, const char *name, const uint64_t *v, hsize_t n)
{
    hid_t space = H5Screate_simple(1, &n, NULL);
    hid_t a =
        space < 0 ? -1 : H5Acreate2(obj, name, H5T_NATIVE_UINT64, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_UINT64, v);
    if (a >= 0) H5Aclose(a);
    if (space >= 0) H5Sclose(space);
    return rc < 0 ? -1 : 0;
}

/* Read attribute name of n u64s into v; -1 when missing or of another size. */
static int get_attr(hid_t obj, const char *name, uint64_t *v, hsize_t n)
{
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t space = a < 0 ? -1 : H5Aget_space(a);
    hssize_t count = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    herr_t rc = count == (hssize_t)n ? H5Aread(a, H5T_NATIVE_UINT64, v) : -1;
    if (space >= 0) H5Sclose(space);
    if (a >= 0) H5Aclose(a);
    return rc < 0 ? -1 : 0;
}

/* The dataset's type and space for o: its array, or opaque bytes. Returns
 * 0 and the ids (the type to close when *close_type). */
static int layout_of(const struct relay_object *o, hid_t *type_p, int *close_type, hid_t *space_p)
{
    hsize_t dims[RELAY_MAX_DIMS];
    int ndims = 1;
    *close_type = 0;
    if (o->array) {
        *type_p = native_type(o->array->dtype);
        ndims = o->array->ndims;
        for (int i = 0; i < ndims; i++)
            dims[i] = o->array->dims[i];
    } else {
        *type_p = H5Tcreate(H5T_OPAQUE, 1);
        if (*type_p >= 0) H5Tset_tag(*type_p, OPAQUE_TAG);
        *close_type = 1;
        dims[0] = o->size;
    }
    *space_p = *type_p < 0 ? -1 : H5Screate_simple(ndims, dims, NULL);
    if (*space_p < 0) {
        if (*close_type && *type_p >= 0) H5Tclose(*type_p);
        return -1;
    }
    return 0;
}

/* Create dataset name in loc with o's layout and write data; attributes
 * when with_attrs. 0, or -1 (nothing left behind). */
static int write_dataset(hid_t loc, const char *name, const struct relay_object *o,
                         const void *data, int with_attrs, hid_t lcpl)
{
    hid_t type, space;
    int close_type;
    if (layout_of(o, &type, &close_type, &space) != 0) return -1;
    /* Contiguous, never filled: one sequential write of the bytes. */
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl >= 0) H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t d = dcpl < 0 ? -1 : H5Dcreate2(loc, name, type, space, lcpl, dcpl, H5P_DEFAULT);
    int rc = d < 0 ? -1 : 0;
    if (!rc && o->size && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) rc = -1;
    if (!rc && with_attrs) {
        uint64_t size = o->size, sum = relay__checksum(data, o->size);
        rc = put_attr(d, ATTR_SIZE, &size, 1) | put_attr(d, ATTR_SUM, &sum, 1);
        if (!rc && o->nrefs) rc = put_attr(d, ATTR_REFS, o->refs, o->nrefs);
    }
    if (d >= 0) H5Dclose(d);
    if (dcpl >= 0) H5Pclose(dcpl);
    H5Sclose(space);
    if (close_type) H5Tclose(type);
    if (rc && d >= 0) H5Ldelete(loc, name, H5P_DEFAULT);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Setup                                                                    */
/* ---------------------------------------------------------------------- */

int relay__spill_init(const char *dir, const char *what, const char *job, int rank,
                      uint64_t max_bytes, int keep)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return relay__error(RELAY_ERR_CONFIG, "%s = '%s': %s", what, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return relay__error(RELAY_ERR_CONFIG, "%s = '%s': not a directory", what, dir);
    /* Writable means a file can be made there (root passes access()). */
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.relay-probe-%s-%d", dir, job, rank);
    int fd = open(probe, O_CREAT | O_EXCL | O_WRONLY, 0600);
    if (fd < 0)
        return relay__error(RELAY_ERR_CONFIG, "%s = '%s': cannot create files there: %s", what, dir,
                            strerror(errno));
    close(fd);
    unlink(probe);
    pthread_mutex_lock(&F.lock);
    snprintf(F.path, sizeof F.path, "%s/relay-%s-%d.h5", dir, job, rank);
    F.file = H5I_INVALID_HID;
    F.bytes = 0;
    F.max_bytes = max_bytes;
    F.keep = keep;
    F.inited = 1;
    pthread_mutex_unlock(&F.lock);
    return RELAY_OK;
}

void relay__spill_fini(void)
{
    pthread_mutex_lock(&F.lock);
    if (F.file >= 0) {
        H5Fclose(F.file);
        if (!F.keep) unlink(F.path);
    }
    F.file = H5I_INVALID_HID;
    F.bytes = 0;
    F.inited = 0;
    pthread_mutex_unlock(&F.lock);
}

const char *relay__spill_path(void)
{
    return F.path;
}

uint64_t relay__spill_bytes(void)
{
    pthread_mutex_lock(&F.lock);
    uint64_t b = F.bytes;
    pthread_mutex_unlock(&F.lock);
    return b;
}

/* HDF5 prints its error stack to stderr by default; relay reports errors
 * itself. Lock held. */
static void hdf5_quiet(void)
{
    if (F.quiet) return;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    F.quiet = 1;
}

/* The rank's file, created at the first write. Lock held. */
static hid_t spill_file(void)
{
    hdf5_quiet();
    if (F.file < 0) F.file = H5Fcreate(F.path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    return F.file;
}

/* ---------------------------------------------------------------------- */
/* Objects                                                                  */
/* ---------------------------------------------------------------------- */

int relay__spill_write(const struct relay_object *o, const void *data)
{
    char name[32];
    dataset_name(o->id, name, sizeof name);
    pthread_mutex_lock(&F.lock);
    int rc = RELAY_OK;
    if (!F.inited) {
        rc = relay__error(RELAY_ERR_IO, "spill: no spill file (relay is not initialized)");
    } else if (F.max_bytes && F.bytes + o->size > F.max_bytes) {
        rc = relay__error(RELAY_ERR_NO_MEMORY,
                          "spill: object %#llx (%zu bytes) would take %s past its limit of "
                          "%llu bytes",
                          (unsigned long long)o->id, o->size, F.path,
                          (unsigned long long)F.max_bytes);
    } else if (spill_file() < 0 || write_dataset(F.file, name, o, data, 1, H5P_DEFAULT) != 0) {
        rc = relay__error(RELAY_ERR_IO, "spill: cannot write object %#llx (%zu bytes) to %s",
                          (unsigned long long)o->id, o->size, F.path);
    } else {
        F.bytes += o->size;
        H5Fflush(F.file, H5F_SCOPE_LOCAL); /* a crash leaves a readable file */
    }
    pthread_mutex_unlock(&F.lock);
    return rc;
}

/* Check the dataset d against target; read it when it matches. Lock held. */
static int read_checked(hid_t d, struct relay_object *t, const char *name)
{
    uint64_t size = 0, sum = 0;
    if (get_attr(d, ATTR_SIZE, &size, 1) || get_attr(d, ATTR_SUM, &sum, 1))
        return relay__error(RELAY_ERR_CORRUPT, "spill: %s:/%s has lost its size or checksum",
                            F.path, name);
    if (size != t->size)
        return relay__error(RELAY_ERR_CORRUPT, "spill: %s:/%s holds %llu bytes, the object has %zu",
                            F.path, name, (unsigned long long)size, t->size);
    if (t->nrefs) {
        uint64_t *refs = malloc(t->nrefs * sizeof *refs);
        int bad = !refs || get_attr(d, ATTR_REFS, refs, t->nrefs) ||
                  memcmp(refs, t->refs, t->nrefs * sizeof *refs) != 0;
        free(refs);
        if (bad)
            return relay__error(RELAY_ERR_CORRUPT, "spill: %s:/%s: the refs it contains differ",
                                F.path, name);
    }
    hid_t type, space;
    int close_type;
    if (layout_of(t, &type, &close_type, &space) != 0)
        return relay__error(RELAY_ERR_IO, "spill: cannot describe %s:/%s", F.path, name);
    herr_t rc = t->size ? H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) : 0;
    H5Sclose(space);
    if (close_type) H5Tclose(type);
    if (rc < 0) return relay__error(RELAY_ERR_IO, "spill: cannot read %s:/%s", F.path, name);
    if (relay__checksum(t->data, t->size) != sum)
        return relay__error(RELAY_ERR_CORRUPT,
                            "spill: %s:/%s: the bytes read back fail their checksum (the file "
                            "was damaged)",
                            F.path, name);
    return RELAY_OK;
}

int relay__spill_read(struct relay_object *t)
{
    char name[32];
    dataset_name(t->id, name, sizeof name);
    pthread_mutex_lock(&F.lock);
    int rc;
    hid_t d = F.file < 0 ? -1 : H5Dopen2(F.file, name, H5P_DEFAULT);
    if (d < 0) {
        rc = relay__error(RELAY_ERR_CORRUPT, "spill: %s has no dataset /%s",
                          F.path[0] ? F.path : "the spill file", name);
    } else {
        rc = read_checked(d, t, name);
        H5Dclose(d);
    }
    pthread_mutex_unlock(&F.lock);
    return rc;
}

void relay__spill_delete(uint64_t id, uint64_t size)
{
    char name[32];
    dataset_name(id, name, sizeof name);
    pthread_mutex_lock(&F.lock);
    if (F.file >= 0 && H5Lexists(F.file, name, H5P_DEFAULT) > 0 &&
        H5Ldelete(F.file, name, H5P_DEFAULT) >= 0)
        F.bytes -= size <= F.bytes ? size : F.bytes;
    pthread_mutex_unlock(&F.lock);
}

/* ---------------------------------------------------------------------- */
/* relay_object_save                                                        */
/* ---------------------------------------------------------------------- */

/* Whether every link along name exists (the dataset is there). */
static int path_exists(hid_t f, const char *name)
{
    char part[1100];
    size_t n = strlen(name);
    if (n >= sizeof part) return 0;
    for (size_t i = 1; i <= n; i++) {
        if (name[i] != '/' && name[i] != '\0') continue;
        memcpy(part, name, i);
        part[i] = '\0';
        if (H5Lexists(f, part, H5P_DEFAULT) <= 0) return 0;
    }
    return 1;
}

static int valid_dataset_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 1024 || name[n - 1] == '/') return 0;
    return strstr(name, "//") == NULL;
}

int relay__spill_save(const struct relay_object *o, const char *path, const char *name)
{
    if (!valid_dataset_name(name))
        return relay__error(RELAY_ERR_INVALID_ARG,
                            "relay_object_save: '%s' is not a dataset name (1..1024 characters, "
                            "groups separated by single '/')",
                            name);
    pthread_mutex_lock(&F.lock);
    hdf5_quiet();
    int rc = RELAY_OK;
    struct stat st;
    hid_t f = stat(path, &st) == 0 ? H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT)
                                   : H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl >= 0) H5Pset_create_intermediate_group(lcpl, 1);
    if (f < 0) {
        rc = relay__error(RELAY_ERR_IO, "relay_object_save: cannot %s HDF5 file '%s'",
                          stat(path, &st) == 0 ? "open" : "create", path);
    } else if (path_exists(f, name)) {
        rc = relay__error(RELAY_ERR_EXISTS, "relay_object_save: '%s' has a dataset '%s' already",
                          path, name);
    } else {
        /* Plain bytes as uint8 for the user's file: any tool reads them. */
        struct relay_object view = *o;
        relay__array_t bytes = {RELAY_UINT8, 1, {o->size}};
        if (!o->array) view.array = &bytes;
        if (write_dataset(f, name, &view, o->data, 0, lcpl) != 0)
            rc = relay__error(RELAY_ERR_IO, "relay_object_save: cannot write '%s' in '%s'", name,
                              path);
    }
    if (lcpl >= 0) H5Pclose(lcpl);
    if (f >= 0 && H5Fclose(f) < 0 && rc == RELAY_OK)
        rc = relay__error(RELAY_ERR_IO, "relay_object_save: cannot close '%s'", path);
    pthread_mutex_unlock(&F.lock);
    return rc;
}
