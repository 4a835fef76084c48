/* The spill file: one HDF5 file per rank holding the large objects the
 * store wrote out. An object is a dataset named after its id: an array as
 * a dataset of its type and shape, plain bytes as a 1-D uint8 dataset;
 * each carries its size, its dtype name ("bytes" for plain bytes), its
 * checksum and the refs it contains as attributes, and a read checks size,
 * refs and checksum. The file is created at the
 * first write and removed at finalize (unless kept). Every HDF5 call of
 * relay goes through here, under one lock. Callable from any thread; none
 * needs the relay lock. */
#ifndef RELAY_SPILL_H
#define RELAY_SPILL_H

#include <stddef.h>
#include <stdint.h>

struct relay_object;

/* Check dir (writable: a file can be made in it) and remember where the
 * rank's file goes: relay__spill_name_make of this host, this process and
 * job. CONFIG naming `what` and dir when it cannot be used. */
int relay__spill_init(const char *dir, const char *what, const char *job, int rank,
                      uint64_t max_bytes, int keep);
/* Close the file, and remove it unless kept (a kept file is left
 * read-only: relay never removes it). */
void relay__spill_fini(void);

/* Write o (its bytes at data, which may be the caller's buffer) as a
 * dataset. IO, or NO_MEMORY when the file would grow past its limit
 * (nothing written). Logged. */
int relay__spill_write(const struct relay_object *o, const void *data);
/* Read the dataset of target->id into target (size, refs and array
 * metadata set). CORRUPT when it does not match, IO when unreadable. */
int relay__spill_read(struct relay_object *target);
/* Drop the dataset of id (its space is reused). */
void relay__spill_delete(uint64_t id, uint64_t size);
/* Bytes of the datasets in the file now. */
uint64_t relay__spill_bytes(void);
/* The path of the rank's file ("" before init). */
const char *relay__spill_path(void);

/* relay_object_save: o as dataset name in the file at path. */
int relay__spill_save(const struct relay_object *o, const char *path, const char *name);

/* ---- Names of spill files, and the leftovers of ended runs ------------- */

/* A spill file's name says who wrote it, so that a later run on the same
 * host can tell whether it is still in use:
 *   relay-<host>-<pid>-<stamp>-<pid0>-<rank>.h5
 * host and pid: the machine (its name, then '.' and the first 8 hex
 * digits of its boot id when Linux gives one: two machines of one name on
 * a shared file system, or one rebooted, are told apart) and the process
 * (1..INT_MAX) that write it; <stamp>-<pid0>:
 * the job (Slurm's job.step, else rank 0's start time; then rank 0's pid),
 * the same on every rank; rank: the writer's. Only host may contain '-':
 * the name is read from the right. */
#define RELAY__SPILL_HOST_MAX 64
#define RELAY__SPILL_JOB_MAX 64
typedef struct relay__spill_name {
    char host[RELAY__SPILL_HOST_MAX];
    long long pid;
    char job[RELAY__SPILL_JOB_MAX]; /* <stamp>-<pid0> */
    int rank;
} relay__spill_name_t;

/* The file name (no directory) of s into buf; -1 when it does not fit or
 * a part is not of the form above. */
int relay__spill_name_make(char *buf, size_t n, const relay__spill_name_t *s);
/* Read a file name (no directory) made by relay__spill_name_make; -1 for
 * any other name (older relays' relay-<job>-<rank>.h5 among them). */
int relay__spill_name_parse(const char *file, relay__spill_name_t *out);
/* This host's name as spill file names carry it: characters other than
 * letters, digits, '.', '-' and '_' become '_'; then ".<boot id>" (8 hex
 * digits) where /proc/sys/kernel/random/boot_id can be read. */
void relay__spill_hostname(char *buf, size_t n);
/* Letters, digits, '.' and '_' of s into buf, any other character as '_'
 * (a job stamp: no '-'). */
void relay__spill_token(char *buf, size_t n, const char *s);

/* What relay__spill_clean found in a spill directory. */
typedef struct relay__spill_clean {
    unsigned removed, others; /* stale ones removed; others left */
    uint64_t removed_bytes, other_bytes;
} relay__spill_clean_t;

/* Look through dir for relay-*.h5 files that are not job's. Provably
 * stale ones (written on this host by a process that is gone, holding no
 * lock, not kept read-only) are removed when remove is set; the others are
 * counted. One log line for each kind found. */
void relay__spill_clean(const char *dir, const char *job, int remove, relay__spill_clean_t *out);

#endif
