/* The spill file's checksum (checksum.c): the library's result against
 * the definition written out plainly here, for every length 0..4096 and
 * any alignment; pieces (multiples of RELAY__CKSUM_BLOCK but the last, as
 * checksum.h allows) equal one call; a flipped bit, moved blocks or an
 * added zero byte change it; the SSE2 and AVX2 block loops agree. */
#include "checksum.h"
#include "testutil.h"

/* The library picks one block loop at run time, once, from static
 * functions. A second copy of checksum.c under other names reaches both. */
#define relay__cksum_init copy_cksum_init
#define relay__cksum_update copy_cksum_update
#define relay__cksum_final copy_cksum_final
#define relay__checksum copy_checksum
#include "checksum.c"
#undef relay__cksum_init
#undef relay__cksum_update
#undef relay__cksum_final
#undef relay__checksum

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX2_BUILD 1
#else
#define HAVE_AVX2_BUILD 0
#endif

#define MAXLEN 4096

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static void fill_random(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(rng_next(&s) >> 56);
}

/* The definition: eight lanes; each whole 64-byte block adds its eight
 * 64-bit words to the lanes' sums (a) and then the sums to the sums of
 * sums (s); the last partial block goes byte by byte (plus one) into lane
 * 0; length and lanes are mixed at the end. */
static uint64_t reference(const unsigned char *p, size_t n)
{
    const uint64_t k = 0x9E3779B97F4A7C15ULL;
    uint64_t a[8] = {0}, s[8] = {0};
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int l = 0; l < 8; l++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * l, 8);
            a[l] += w;
            s[l] += a[l];
        }
    for (; i < n; i++) {
        a[0] += (uint64_t)p[i] + 1;
        s[0] += a[0];
    }
    uint64_t h = n * k;
    for (int l = 0; l < 8; l++) {
        h = (h ^ a[l]) * k;
        h ^= h >> 29;
        h = (h ^ s[l]) * k;
        h ^= h >> 29;
    }
    return h;
}

/* In random pieces, each a multiple of the block (empty ones too) but
 * the last. */
static uint64_t in_pieces(const unsigned char *p, size_t n, uint64_t *rng)
{
    relay__cksum_t c;
    relay__cksum_init(&c);
    size_t off = 0;
    while (off < n) {
        size_t left = n - off, nblocks = left / RELAY__CKSUM_BLOCK;
        size_t take = (size_t)(rng_next(rng) % (nblocks + 1)) * RELAY__CKSUM_BLOCK;
        if (nblocks == 0 || rng_next(rng) % 4 == 0) take = left; /* the last piece */
        relay__cksum_update(&c, p + off, take);
        off += take;
    }
    return relay__cksum_final(&c);
}

/* Both block loops over p[0..n): the same lanes and the same count of
 * bytes taken. */
static void check_paths(const unsigned char *p, size_t n, int avx2)
{
    relay__cksum_t c1, c2;
    copy_cksum_init(&c1);
    copy_cksum_init(&c2);
    size_t i1 = blocks_default(&c1, p, n);
    CHECK_EQ(i1, n / RELAY__CKSUM_BLOCK * RELAY__CKSUM_BLOCK);
#if HAVE_AVX2_BUILD
    if (avx2) {
        size_t i2 = blocks_avx2(&c2, p, n);
        CHECK_EQ(i2, i1);
        CHECK_MEMEQ(&c1, &c2, sizeof c1);
    }
#else
    (void)avx2;
    (void)c2;
#endif
    /* The copy's one-shot, whichever loop it picked, is the library's. */
    CHECK_EQ(copy_checksum(p, n), relay__checksum(p, n));
}

static void every_length(int avx2)
{
    static unsigned char data[MAXLEN + 64], moved[MAXLEN + 64];
    fill_random(data, sizeof data, 42);
    uint64_t rng = 7;
    for (size_t n = 0; n <= MAXLEN; n++) {
        uint64_t want = reference(data, n);
        CHECK_EQ(relay__checksum(data, n), want);
        CHECK_EQ(in_pieces(data, n, &rng), want);
        /* The same bytes at another alignment. */
        size_t off = 1 + n % 63;
        memcpy(moved + off, data, n);
        CHECK_EQ(relay__checksum(moved + off, n), want);
        check_paths(moved + off, n, avx2);
    }
    /* All zero bytes still count: each length has its own checksum. */
    static unsigned char zeros[MAXLEN];
    memset(zeros, 0, sizeof zeros);
    for (size_t n = 1; n <= 300; n++)
        CHECK_NE(relay__checksum(zeros, n), relay__checksum(zeros, n - 1));
}

/* Flipping any one bit changes the checksum: every bit of short buffers;
 * of longer ones, the top byte of every 64-bit word (a difference there
 * is the easiest to lose) and a random sample of the others. */
static void flip_changes(unsigned char *buf, size_t n, size_t bit, uint64_t orig)
{
    buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    if (relay__checksum(buf, n) == orig) {
        fprintf(stderr, "flipping bit %zu of %zu bytes leaves the checksum alone\n", bit, n);
        CHECK_NE(relay__checksum(buf, n), orig);
    }
    buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
}

static void bit_flips(void)
{
    static const size_t lens[] = {1, 7, 63, 64, 65, 127, 128, 200, 1000, 4096};
    static unsigned char buf[MAXLEN];
    uint64_t rng = 99;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li], bits = n * 8;
        fill_random(buf, n, n);
        uint64_t orig = relay__checksum(buf, n);
        if (bits <= 1600) {
            for (size_t b = 0; b < bits; b++)
                flip_changes(buf, n, b, orig);
        } else {
            for (size_t w = 0; w + 8 <= n; w += 8)
                for (size_t b = 56; b < 64; b++)
                    flip_changes(buf, n, w * 8 + b, orig);
            for (int t = 0; t < 2000; t++)
                flip_changes(buf, n, rng_next(&rng) % bits, orig);
            flip_changes(buf, n, 0, orig);
            flip_changes(buf, n, bits - 1, orig);
        }
        CHECK_EQ(relay__checksum(buf, n), orig);
    }
}

/* Moved data: two different blocks swapped keep every lane's sum but
 * not its sum of sums. */
static void moved_blocks(void)
{
    static unsigned char buf[8 * 64];
    fill_random(buf, sizeof buf, 5);
    uint64_t orig = relay__checksum(buf, sizeof buf);
    unsigned char tmp[64];
    memcpy(tmp, buf + 64, 64);
    memcpy(buf + 64, buf + 5 * 64, 64);
    memcpy(buf + 5 * 64, tmp, 64);
    CHECK_NE(relay__checksum(buf, sizeof buf), orig);
}

int main(void)
{
    int avx2 = 0;
#if HAVE_AVX2_BUILD
    avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
#endif
    printf("unit_checksum: AVX2 block loop %s\n", avx2 ? "checked against SSE2" : "not available");
    every_length(avx2);
    bit_flips();
    moved_blocks();
    printf("unit_checksum: PASS\n");
    return 0;
}
