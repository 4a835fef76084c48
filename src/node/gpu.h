/* GPUs: which CUDA devices this rank owns, and making one current. The
 * core never includes CUDA headers: the backend (gpu_cuda.c when the
 * toolkit is found, gpu_none.c otherwise) answers three questions, and
 * gpu.c shares the devices of a node among its worker ranks. */
#ifndef RELAY_GPU_H
#define RELAY_GPU_H

#include <stddef.h>

#include <mpi.h>

#define RELAY__GPU_UUID_BYTES 16

/* Backend. Load it (the CUDA runtime, with dlopen): names, the libraries
 * to try in turn (NULL-terminated), NULL for the default ones, tried once
 * per process; an explicit list is tried again each time (tests). 0 when a
 * runtime is there, -1 (logged at debug level) when none: then zero
 * devices. Devices visible to this process (0 without CUDA, without a
 * driver or without a device); a device's UUID; make a device current on
 * the calling thread (0 on success). */
int relay__gpu_backend_load(const char *const *names);
int relay__gpu_backend_count(void);
int relay__gpu_backend_uuid(int dev, unsigned char uuid[RELAY__GPU_UUID_BYTES]);
int relay__gpu_backend_set(int dev);

/* Collective over node (the ranks of this node). Decide this rank's GPUs: the devices it sees,
 * shared round-robin among the node's worker ranks (hosts: this rank hosts
 * workers) that see them, each device going to one rank; override >= 0
 * sets the count, extending the list with virtual GPUs. */
int relay__gpu_setup(MPI_Comm node, int hosts, int override);
void relay__gpu_teardown(void);
/* This rank's GPUs: count, the CUDA ordinal (or virtual id) of each, and
 * its physical id (the CUDA_VISIBLE_DEVICES entry of its ordinal; NULL for
 * an index out of range). */
int relay__gpu_count(void);
int relay__gpu_id(int index);
const char *relay__gpu_physical(int index);
/* Make GPU index current on the calling thread; virtual GPUs need nothing.
 * Returns 0, or the backend's error code. */
int relay__gpu_bind(int index);

/* The sharing rule, kept pure so it can be tested without devices. nlocal
 * ranks of a node; rank i hosts workers when hosts[i], sees ndev[i]
 * devices whose UUIDs follow each other in uuids (rank 0's first). Writes
 * the ordinals (in rank me's numbering) of the devices rank me owns into
 * owned (room for ndev[me]) and returns how many. */
int relay__gpu_share(int nlocal, const int *hosts, const int *ndev, const unsigned char *uuids,
                     int me, int *owned);

/* The physical id of ordinal in visible (the value of CUDA_VISIBLE_DEVICES,
 * NULL when unset): its entry, white space trimmed and cut to size - 1
 * characters, or the ordinal in decimal when visible has no such entry.
 * Returns 1 when the id came from visible. */
int relay__gpu_visible_entry(const char *visible, int ordinal, char *buf, size_t size);

#endif
