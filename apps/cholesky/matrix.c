/* The test matrix, defined element by element so that any rank can make
 * any tile of it (and the baseline the whole) without communication. */
#include "cholesky.h"

/* splitmix64's finalizer: a well-mixed 64-bit hash. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

double chol_element(uint64_t r, uint64_t c, int n)
{
    uint64_t lo = r < c ? r : c, hi = r < c ? c : r; /* symmetric */
    double u = (double)(mix((lo << 32) ^ hi) >> 11) * 0x1.0p-53;
    return r == c ? u + (double)n : u;
}

void chol_tile_fill(double *t, int i, int j, int b, int n)
{
    uint64_t r0 = (uint64_t)i * (uint64_t)b, c0 = (uint64_t)j * (uint64_t)b;
    for (int r = 0; r < b; r++)
        for (int c = 0; c < b; c++)
            t[(size_t)r * (size_t)b + (size_t)c] =
                chol_element(r0 + (uint64_t)r, c0 + (uint64_t)c, n);
}

void chol_matrix_fill(double *a, int n)
{
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++)
            a[(size_t)r * (size_t)n + (size_t)c] = chol_element((uint64_t)r, (uint64_t)c, n);
}

double chol_tile_norm2(const double *t, int b)
{
    double s = 0;
    for (size_t k = 0; k < (size_t)b * (size_t)b; k++)
        s += t[k] * t[k];
    return s;
}
