/* The spill file: one HDF5 file per rank holding the large objects the
 * store wrote out. An object is a dataset named after its id: an array as
 * a dataset of its type and shape, plain bytes as a 1-D opaque dataset;
 * each carries its size, its checksum and the refs it contains as
 * attributes, and a read checks all of them. The file is created at the
 * first write and removed at finalize (unless kept). Every HDF5 call of
 * relay goes through here, under one lock. Callable from any thread; none
 * needs the relay lock. */
#ifndef RELAY_SPILL_H
#define RELAY_SPILL_H

#include <stddef.h>
#include <stdint.h>

struct relay_object;

/* Check dir (writable: a file can be made in it) and remember where the
 * rank's file goes. CONFIG naming `what` and dir when it cannot be used. */
int relay__spill_init(const char *dir, const char *what, const char *job, int rank,
                      uint64_t max_bytes, int keep);
/* Close the file, and remove it unless kept. */
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

#endif
