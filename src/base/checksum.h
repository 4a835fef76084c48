/* Checksum of object bytes in the spill file: eight 64-bit lanes of
 * running sums and sums of sums (position-sensitive, like Fletcher's),
 * mixed at the end. Not cryptographic: it catches damaged, torn or moved
 * data, at memory speed (the loop vectorizes). Computed in pieces, each a
 * multiple of RELAY__CKSUM_BLOCK bytes but the last, so a file can be
 * checksummed slab by slab while the slab is in cache. */
#ifndef RELAY_CHECKSUM_H
#define RELAY_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#define RELAY__CKSUM_BLOCK 64

typedef struct relay__cksum {
    uint64_t a[8], s[8], n;
} relay__cksum_t;

void relay__cksum_init(relay__cksum_t *c);
void relay__cksum_update(relay__cksum_t *c, const void *p, size_t n);
uint64_t relay__cksum_final(const relay__cksum_t *c);
/* All of it at once. */
uint64_t relay__checksum(const void *p, size_t n);

#endif
