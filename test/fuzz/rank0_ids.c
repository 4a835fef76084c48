/* Rewrite the ids in fuzz inputs so that they name rank 0, in place:
 *
 *   fuzz_rank0_ids FILE...
 *
 * The seeds are captured from a 3-rank run (make_corpus.sh), where most
 * ids are made by ranks 1 and 2; fuzz_dispatch runs one rank, whose
 * decoders reject an id naming a rank that does not exist, and whose
 * scheduler takes a SUBMIT only for a task of the sender's (rank 0). An id
 * of rank r > 0, sequence s becomes rank 0's id of sequence s | r << 32:
 * ids of different ranks stay different, and they lie below the sequence
 * numbers fuzz_dispatch's rank 0 hands out itself (from 2^35 on, so that
 * its client takes them for ids it made; see fuzz_dispatch.c).
 *
 * Fields are not decoded: in each record's payload (the framing of
 * fuzz_dispatch's inputs: [u8 type][u32 length][payload], a length past
 * the end cut to what is left), every 8 bytes that read as an id of ranks
 * 1..15 with a sequence number below 2^20 and a return index below
 * RELAY_MAX_RETURNS are taken for one. A capture's sequence numbers are
 * small; names, hashes, sizes and counts, alone or with their neighbours,
 * practically never look like that. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "runtime.h"

static int remap(uint64_t *v)
{
    int rank = relay__id_rank(*v);
    uint64_t seq = relay__id_seq(*v);
    unsigned idx = relay__id_index(*v);
    if (rank < 1 || rank > 15 || seq == 0 || seq >= (UINT64_C(1) << 20) || idx >= RELAY_MAX_RETURNS)
        return 0;
    *v = relay__id_make(0, seq | (uint64_t)rank << 32, idx);
    return 1;
}

/* The ids in p[0..n), rewritten; how many. */
static size_t remap_payload(uint8_t *p, size_t n)
{
    size_t changed = 0;
    for (size_t i = 0; i + 8 <= n;) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (!remap(&v)) {
            i++;
            continue;
        }
        memcpy(p + i, &v, 8);
        changed++;
        i += 8;
    }
    return changed;
}

static int rewrite(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return perror(path), -1;
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    int big = !feof(f);
    fclose(f);
    if (big) return fprintf(stderr, "%s: larger than 1 MiB\n", path), -1;
    size_t changed = 0;
    for (size_t pos = 0; pos + RELAY__RECORD_HDR <= n;) {
        uint32_t len;
        memcpy(&len, buf + pos + 1, 4);
        size_t left = n - pos - RELAY__RECORD_HDR;
        size_t k = len < left ? len : left;
        changed += remap_payload(buf + pos + RELAY__RECORD_HDR, k);
        pos += RELAY__RECORD_HDR + k;
    }
    if (!changed) return 0;
    f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) return perror(path), -1;
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++)
        if (rewrite(argv[i]) != 0) rc = 1;
    return rc;
}
