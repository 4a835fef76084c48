/* The spill file in HDF5 (see spill.h). */
#include "spill.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "checksum.h"
#include "log.h"
#include "object.h"
#include "runtime.h"

#define ATTR_SIZE "relay_size"
#define ATTR_SUM "relay_checksum"
#define ATTR_REFS "relay_refs"
#define ATTR_DTYPE "relay_dtype"
#define ATTR_VERSION "relay_version"

/* Space a new HDF5 file must find before HDF5 is asked to make it: HDF5
 * 1.10 leaks memory (and prints "infinite loop closing library" at exit)
 * when H5Fcreate fails to write the superblock. Its first writes take a
 * few KiB. */
#define CREATE_ROOM ((off_t)64 << 10)

static struct {
    pthread_mutex_t lock; /* every HDF5 call of relay */
    char path[4096];
    hid_t file;             /* H5I_INVALID_HID until the first write */
    int fd;                 /* the file relay made, locked while it lives; -1 */
    _Atomic uint64_t bytes; /* of the datasets in the file (read without the lock) */
    uint64_t count;         /* datasets in the file */
    uint64_t max_bytes;
    int keep, inited, warned;
} F = {.lock = PTHREAD_MUTEX_INITIALIZER, .file = H5I_INVALID_HID, .fd = -1};

/* ---------------------------------------------------------------------- */
/* HDF5 helpers (lock held)                                                 */
/* ---------------------------------------------------------------------- */

/* The calling thread's HDF5 error printing, set aside while relay works:
 * relay reports errors itself, and the program's own setting (per thread
 * in a thread-safe HDF5) is given back. */
typedef struct hush {
    H5E_auto2_t fn;
    void *data;
} hush_t;

static void lock_hdf5(hush_t *h)
{
    pthread_mutex_lock(&F.lock);
    if (H5Eget_auto2(H5E_DEFAULT, &h->fn, &h->data) < 0) h->fn = NULL, h->data = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void unlock_hdf5(const hush_t *h)
{
    H5Eset_auto2(H5E_DEFAULT, h->fn, h->data);
    pthread_mutex_unlock(&F.lock);
}

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

/* What relay_dtype says: "bytes" for plain bytes, else the element type. */
static const char *dtype_name(const struct relay_object *o)
{
    static const char *const names[] = {
        [RELAY_DTYPE_BYTES] = "bytes", [RELAY_INT8] = "int8",       [RELAY_UINT8] = "uint8",
        [RELAY_INT16] = "int16",       [RELAY_UINT16] = "uint16",   [RELAY_INT32] = "int32",
        [RELAY_UINT32] = "uint32",     [RELAY_INT64] = "int64",     [RELAY_UINT64] = "uint64",
        [RELAY_FLOAT32] = "float32",   [RELAY_FLOAT64] = "float64",
    };
    unsigned t = o->array ? o->array->dtype : RELAY_DTYPE_BYTES;
    return t < sizeof names / sizeof names[0] && names[t] ? names[t] : "unknown";
}

static void dataset_name(uint64_t id, char *buf, size_t n)
{
    snprintf(buf, n, "o%016llx", (unsigned long long)id);
}

/* Attribute name of the u64s at v in space (closed here). */
static int put_attr_in(hid_t obj, const char *name, const uint64_t *v, hid_t space)
{
    hid_t a =
        space < 0 ? -1 : H5Acreate2(obj, name, H5T_NATIVE_UINT64, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_UINT64, v);
    if (a >= 0) H5Aclose(a);
    if (space >= 0) H5Sclose(space);
    return rc < 0 ? -1 : 0;
}

/* n values as a list (the refs, however many). */
static int put_attr(hid_t obj, const char *name, const uint64_t *v, hsize_t n)
{
    return put_attr_in(obj, name, v, H5Screate_simple(1, &n, NULL));
}

/* One value as a scalar: readers get a number, not a list of one. */
static int put_u64(hid_t obj, const char *name, uint64_t v)
{
    return put_attr_in(obj, name, &v, H5Screate(H5S_SCALAR));
}

/* A scalar string attribute: fixed length, ASCII (kept in the attribute
 * itself, where a variable-length one would take space in the file's heap
 * that deleting the dataset may not give back). */
static int put_str_attr(hid_t obj, const char *name, const char *v)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    hid_t space = H5Screate(H5S_SCALAR);
    int ok = type >= 0 && space >= 0 && H5Tset_size(type, strlen(v) + 1) >= 0 &&
             H5Tset_strpad(type, H5T_STR_NULLTERM) >= 0;
    hid_t a = ok ? H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT) : -1;
    herr_t rc = a < 0 ? -1 : H5Awrite(a, type, v);
    if (a >= 0) H5Aclose(a);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return rc < 0 ? -1 : 0;
}

static int put_version_attr(hid_t obj)
{
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", RELAY_VERSION_MAJOR, RELAY_VERSION_MINOR,
             RELAY_VERSION_PATCH);
    return put_str_attr(obj, ATTR_VERSION, v);
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

/* Slabs of about this many bytes: small enough that a slab is still in
 * cache when the checksum reads it after the transfer (the kernel's copy
 * passes through the cache too), large enough for sequential I/O. 512 KiB
 * did best on relay-spill-bench against 256 KiB to 16 MiB. */
#define SLAB_BYTES ((size_t)512 << 10)

static size_t gcd(size_t a, size_t b)
{
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Rows of row bytes per slab: about SLAB_BYTES, and a whole number of
 * checksum blocks (all slabs but the last are checksummed alone). */
static hsize_t slab_rows(size_t row)
{
    if (!row) return 1;
    size_t q = RELAY__CKSUM_BLOCK / gcd(row, RELAY__CKSUM_BLOCK); /* rows per whole blocks */
    size_t per = SLAB_BYTES / row / q * q;
    return per ? per : q;
}

/* Move the dataset's bytes (write, or read into data) slab by slab along
 * its first dimension, checksumming each slab while it is in cache (sum
 * NULL: no checksum). */
static int transfer(hid_t d, hid_t type, hid_t fspace, const struct relay_object *o, void *data,
                    int writing, relay__cksum_t *sum)
{
    int ndims = H5Sget_simple_extent_ndims(fspace);
    hsize_t dims[RELAY_MAX_DIMS], start[RELAY_MAX_DIMS] = {0}, count[RELAY_MAX_DIMS];
    if (ndims < 1 || H5Sget_simple_extent_dims(fspace, dims, NULL) < 0) return -1;
    if (dims[0] == 0) return 0;
    size_t row = o->size / dims[0]; /* bytes per index of the first dimension */
    hsize_t per = slab_rows(row);
    if (per > dims[0]) per = dims[0];
    for (int i = 1; i < ndims; i++)
        count[i] = dims[i];
    for (hsize_t first = 0; first < dims[0]; first += per) {
        hsize_t n = dims[0] - first < per ? dims[0] - first : per;
        start[0] = first;
        count[0] = n;
        unsigned char *p = (unsigned char *)data + first * row;
        hid_t mspace = H5Screate_simple(ndims, count, NULL);
        int ok = mspace >= 0 &&
                 H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0;
        if (ok)
            ok = (writing ? H5Dwrite(d, type, mspace, fspace, H5P_DEFAULT, p)
                          : H5Dread(d, type, mspace, fspace, H5P_DEFAULT, p)) >= 0;
        if (ok && sum) relay__cksum_update(sum, p, n * row);
        if (mspace >= 0) H5Sclose(mspace);
        if (!ok) return -1;
    }
    return 0;
}

/* The dataset's type and space for o: its array, or plain bytes as 1-D
 * uint8 (any HDF5 reader takes them; relay_dtype tells them apart from a
 * uint8 array). Returns 0 and the ids (the space to close). */
static int layout_of(const struct relay_object *o, hid_t *type_p, hid_t *space_p)
{
    hsize_t dims[RELAY_MAX_DIMS] = {o->size};
    int ndims = 1;
    *type_p = H5T_NATIVE_UINT8;
    if (o->array) {
        *type_p = native_type(o->array->dtype);
        ndims = o->array->ndims;
        for (int i = 0; i < ndims; i++)
            dims[i] = o->array->dims[i];
    }
    *space_p = *type_p < 0 ? -1 : H5Screate_simple(ndims, dims, NULL);
    return *space_p < 0 ? -1 : 0;
}

/* What write_dataset puts beside the bytes: size, dtype and checksum
 * always; the refs in the spill file; relay's version in the program's
 * file (which may hold other things). */
enum { FOR_SPILL, FOR_SAVE };

/* Attributes before the bytes, so that a failure comes early. */
static int put_attrs(hid_t d, const struct relay_object *o, int use)
{
    if (put_u64(d, ATTR_SIZE, o->size) || put_str_attr(d, ATTR_DTYPE, dtype_name(o))) return -1;
    if (use == FOR_SPILL && o->nrefs && put_attr(d, ATTR_REFS, o->refs, o->nrefs)) return -1;
    if (use == FOR_SAVE && put_version_attr(d)) return -1;
    return 0;
}

/* Create dataset name in loc with o's layout and write data, with its
 * attributes (the checksum after the bytes). 0, or -1 (nothing left
 * behind). */
static int write_dataset(hid_t loc, const char *name, const struct relay_object *o,
                         const void *data, int use, hid_t lcpl)
{
    hid_t type, space;
    if (layout_of(o, &type, &space) != 0) return -1;
    /* Contiguous, never filled: one sequential write of the bytes. */
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl >= 0) H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t d = dcpl < 0 ? -1 : H5Dcreate2(loc, name, type, space, lcpl, dcpl, H5P_DEFAULT);
    int rc = d < 0 ? -1 : put_attrs(d, o, use);
    relay__cksum_t c;
    relay__cksum_init(&c);
    if (!rc && o->size && transfer(d, type, space, o, (void *)data, 1, &c)) rc = -1;
    if (!rc) {
        rc = put_u64(d, ATTR_SUM, relay__cksum_final(&c));
    }
    /* Closing writes what HDF5 still buffers: a failure there is the
     * write's (the id is gone either way). */
    if (d >= 0 && H5Dclose(d) < 0) rc = -1;
    if (dcpl >= 0) H5Pclose(dcpl);
    H5Sclose(space);
    if (rc && d >= 0) H5Ldelete(loc, name, H5P_DEFAULT);
    return rc;
}

/* Make path, a new file (never over one that exists), and check it can
 * take HDF5's first writes. Returns the open descriptor (the caller
 * removes the file if what follows fails), or -1 with errno set. */
static int new_file(const char *path, mode_t mode)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    int err = posix_fallocate(fd, 0, CREATE_ROOM);
    /* Only a lack of space counts: a file system without fallocate
     * (EOPNOTSUPP, EINVAL) says nothing about it. */
    if (err == ENOSPC || err == EDQUOT || err == EFBIG || (err == 0 && ftruncate(fd, 0) != 0)) {
        if (err == 0) err = errno;
        close(fd);
        unlink(path);
        errno = err;
        return -1;
    }
    return fd;
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
    relay__spill_name_t name = {.pid = (long long)getpid(), .rank = rank};
    relay__spill_hostname(name.host, sizeof name.host);
    snprintf(name.job, sizeof name.job, "%s", job);
    char file[256];
    if (relay__spill_name_make(file, sizeof file, &name) != 0)
        return relay__error(RELAY_ERR_INTERNAL, "spill: no file name for host '%s', job '%s'",
                            name.host, job);
    pthread_mutex_lock(&F.lock);
    snprintf(F.path, sizeof F.path, "%s/%s", dir, file);
    F.file = H5I_INVALID_HID;
    F.fd = -1;
    atomic_store(&F.bytes, 0);
    F.count = 0;
    F.max_bytes = max_bytes;
    F.keep = keep;
    F.warned = 0;
    F.inited = 1;
    pthread_mutex_unlock(&F.lock);
    return RELAY_OK;
}

/* Close the rank's file; remove it unless keep (then left read-only,
 * which tells later runs it was kept). Lock held. */
static void close_spill_file(int keep)
{
    if (F.file >= 0 && H5Fclose(F.file) < 0)
        relay__log(RELAY__LOG_WARN, "spill: closing %s failed%s", F.path,
                   keep ? ": the kept file may be incomplete" : "");
    if (F.file >= 0 || F.fd >= 0) {
        if (!keep)
            unlink(F.path);
        else if (chmod(F.path, 0400) != 0)
            relay__log(RELAY__LOG_WARN, "spill: cannot make kept %s read-only: %s", F.path,
                       strerror(errno));
    }
    if (F.fd >= 0) close(F.fd); /* its lock goes with it */
    F.file = H5I_INVALID_HID;
    F.fd = -1;
    atomic_store(&F.bytes, 0);
    F.count = 0;
}

void relay__spill_fini(void)
{
    hush_t h;
    lock_hdf5(&h);
    close_spill_file(F.keep);
    F.inited = 0;
    unlock_hdf5(&h);
}

const char *relay__spill_path(void)
{
    return F.path;
}

uint64_t relay__spill_bytes(void)
{
    return atomic_load(&F.bytes);
}

/* The HDF5 file at the path relay made. Format 1.8 or later: attributes
 * over 64 KiB (the refs of an object with thousands) then go to dense
 * storage instead of failing. HDF5's own locking stays as the program has
 * it: HDF5 refuses a second open of a file whose locking differs (a
 * program reading the spill file while relay writes it). */
static hid_t create_hdf5(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return H5I_INVALID_HID;
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(F.path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    /* Which relay wrote it; a file without it is still a usable one. */
    if (f >= 0) put_version_attr(f);
    return f;
}

/* relay's lock on its file (l_type F_WRLCK, or F_UNLCK to drop it), held
 * while the rank lives: an open file description lock, which leaves
 * HDF5's flock alone on local file systems. 1 when it is done. */
static int lock_spill_file(short type)
{
    struct flock l = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(F.fd, F_OFD_SETLK, &l) == 0) return 1;
    relay__log(RELAY__LOG_DEBUG, "spill: no lock of relay's on %s: %s", F.path, strerror(errno));
    return 0;
}

/* The rank's file, created at the first write (again after a failed
 * first write): never over another file (a kept one, another job's). The
 * descriptor relay opens stays open, with a lock that tells later runs the
 * file is in use, taken as soon as the file exists: another run's cleaning
 * never finds it unlocked. -1 with the reason in why. Lock held. */
static hid_t spill_file(char *why, size_t n)
{
    if (F.file >= 0) return F.file;
    F.fd = new_file(F.path, 0600);
    if (F.fd < 0) {
        int err = errno;
        snprintf(why, n, "%s", strerror(err));
        if (err == EEXIST && !F.warned++)
            relay__log(RELAY__LOG_WARN, "spill: %s exists already (another run's?): not touched",
                       F.path);
        return H5I_INVALID_HID;
    }
    int locked = lock_spill_file(F_WRLCK);
    F.file = create_hdf5();
    if (F.file < 0 && locked && lock_spill_file(F_UNLCK)) {
        /* Where flock is emulated with fcntl locks (NFS), HDF5's lock and
         * relay's conflict: HDF5's stands in for relay's. */
        F.file = create_hdf5();
    }
    if (F.file < 0) {
        snprintf(why, n, "HDF5 cannot create it");
        close_spill_file(0); /* relay made it: nothing of it stays */
    }
    return F.file;
}

/* ---------------------------------------------------------------------- */
/* Objects                                                                  */
/* ---------------------------------------------------------------------- */

/* Write o into the rank's file: 0, or -1 with the reason in why. Lock
 * held. */
static int write_object(const struct relay_object *o, const void *data, char *why, size_t n)
{
    char name[32];
    dataset_name(o->id, name, sizeof name);
    if (spill_file(why, n) < 0) return -1;
    if (write_dataset(F.file, name, o, data, FOR_SPILL, H5P_DEFAULT) != 0) {
        snprintf(why, n, "the write failed (disk full?)");
    } else if (H5Fflush(F.file, H5F_SCOPE_LOCAL) < 0) { /* its metadata must be there too */
        H5Ldelete(F.file, name, H5P_DEFAULT);
        snprintf(why, n, "the flush after it failed (disk full?)");
    } else {
        return 0;
    }
    /* A file that holds nothing goes (the space it took comes back): the
     * next spill makes it again. */
    if (F.count == 0) {
        close_spill_file(0);
        snprintf(why + strlen(why), n - strlen(why), "; the file was removed until the next spill");
    }
    return -1;
}

int relay__spill_write(const struct relay_object *o, const void *data)
{
    hush_t h;
    lock_hdf5(&h);
    int rc = RELAY_OK;
    char why[200] = "";
    uint64_t used = atomic_load(&F.bytes);
    if (!F.inited) {
        rc = relay__error(RELAY_ERR_IO, "spill: no spill file (relay is not initialized)");
    } else if (F.max_bytes && used + o->size > F.max_bytes) {
        rc = relay__error(RELAY_ERR_NO_MEMORY,
                          "spill: object %#llx (%zu bytes) would take %s past its limit of "
                          "%llu bytes",
                          (unsigned long long)o->id, o->size, F.path,
                          (unsigned long long)F.max_bytes);
    } else if (write_object(o, data, why, sizeof why) != 0) {
        rc = relay__error(RELAY_ERR_IO, "spill: cannot write object %#llx (%zu bytes) to %s: %s",
                          (unsigned long long)o->id, o->size, F.path, why);
    } else {
        atomic_fetch_add(&F.bytes, o->size);
        F.count++;
    }
    unlock_hdf5(&h);
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
    if (layout_of(t, &type, &space) != 0)
        return relay__error(RELAY_ERR_IO, "spill: cannot describe %s:/%s", F.path, name);
    relay__cksum_t c;
    relay__cksum_init(&c);
    int rc = t->size ? transfer(d, type, space, t, t->data, 0, &c) : 0;
    H5Sclose(space);
    if (rc < 0) return relay__error(RELAY_ERR_IO, "spill: cannot read %s:/%s", F.path, name);
    if (relay__cksum_final(&c) != sum)
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
    hush_t h;
    lock_hdf5(&h);
    int rc;
    hid_t d = F.file < 0 ? -1 : H5Dopen2(F.file, name, H5P_DEFAULT);
    if (d < 0) {
        rc = relay__error(RELAY_ERR_CORRUPT, "spill: %s has no dataset /%s",
                          F.path[0] ? F.path : "the spill file", name);
    } else {
        rc = read_checked(d, t, name);
        H5Dclose(d);
    }
    unlock_hdf5(&h);
    return rc;
}

void relay__spill_delete(uint64_t id, uint64_t size)
{
    char name[32];
    dataset_name(id, name, sizeof name);
    hush_t h;
    lock_hdf5(&h);
    if (F.file >= 0 && H5Lexists(F.file, name, H5P_DEFAULT) > 0 &&
        H5Ldelete(F.file, name, H5P_DEFAULT) >= 0) {
        uint64_t used = atomic_load(&F.bytes);
        atomic_store(&F.bytes, size <= used ? used - size : 0);
        if (F.count) F.count--;
    }
    unlock_hdf5(&h);
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
    hush_t h;
    lock_hdf5(&h);
    int rc = RELAY_OK;
    hid_t f = H5I_INVALID_HID;
    /* A file relay makes is made first without HDF5 (and goes again if the
     * save fails): a path that cannot take one never reaches HDF5. */
    int made = 0;
    char why[160] = "";
    struct stat st;
    if (stat(path, &st) == 0) {
        f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        if (f < 0) snprintf(why, sizeof why, "cannot open HDF5 file");
    } else {
        int fd = new_file(path, 0666);
        if (fd < 0) {
            snprintf(why, sizeof why, "cannot create HDF5 file: %s", strerror(errno));
        } else {
            made = 1;
            close(fd);
            f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
            if (f < 0) snprintf(why, sizeof why, "cannot create HDF5 file");
        }
    }
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl >= 0) H5Pset_create_intermediate_group(lcpl, 1);
    if (f < 0) {
        rc = relay__error(RELAY_ERR_IO, "relay_object_save: '%s': %s", path, why);
    } else if (path_exists(f, name)) {
        rc = relay__error(RELAY_ERR_EXISTS, "relay_object_save: '%s' has a dataset '%s' already",
                          path, name);
    } else {
        if (write_dataset(f, name, o, o->data, FOR_SAVE, lcpl) != 0)
            rc = relay__error(RELAY_ERR_IO, "relay_object_save: cannot write '%s' in '%s'", name,
                              path);
    }
    if (lcpl >= 0) H5Pclose(lcpl);
    if (f >= 0 && H5Fclose(f) < 0 && rc == RELAY_OK)
        rc = relay__error(RELAY_ERR_IO, "relay_object_save: cannot close '%s'", path);
    if (rc != RELAY_OK && made) unlink(path); /* nothing half made stays */
    unlock_hdf5(&h);
    return rc;
}
