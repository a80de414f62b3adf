/*
 * The same 4x4 register-tiled micro-kernel as src/tensor/kernels/fast.ts, in C, scalar: a reference
 * for what this CPU gives to scalar code without SIMD or FMA, so that the TypeScript figure can be
 * read against the machine rather than against a guess.
 *
 *   gcc -O2 -fno-tree-vectorize -ffp-contract=off -o /tmp/scalar-gemm bench/native/scalar-gemm.c && /tmp/scalar-gemm
 *
 * -fno-tree-vectorize keeps it scalar and -ffp-contract=off keeps multiply and add separate, as in
 * JavaScript. Panels are packed k-major in doubles (4 rows of A, 4 columns of B per k), like ours.
 * Not part of the build or the tests: nothing in the project needs a C compiler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((noinline)) static void kernel(const double *A, const double *B, double *C, int mp, int np, int k) {
  for (int ip = 0; ip < mp; ip++) {
    for (int jp = 0; jp < np; jp++) {
      const double *a = A + (long)ip * k * 4, *b = B + (long)jp * k * 4;
      double c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      double c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (int p = 0; p < k; p++, a += 4, b += 4) {
        const double a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
        double x = b[0];
        c00 += a0 * x; c10 += a1 * x; c20 += a2 * x; c30 += a3 * x;
        x = b[1];
        c01 += a0 * x; c11 += a1 * x; c21 += a2 * x; c31 += a3 * x;
        x = b[2];
        c02 += a0 * x; c12 += a1 * x; c22 += a2 * x; c32 += a3 * x;
        x = b[3];
        c03 += a0 * x; c13 += a1 * x; c23 += a2 * x; c33 += a3 * x;
      }
      double *o = C + ((long)ip * np + jp) * 16;
      o[0] = c00; o[1] = c01; o[2] = c02; o[3] = c03; o[4] = c10; o[5] = c11; o[6] = c12; o[7] = c13;
      o[8] = c20; o[9] = c21; o[10] = c22; o[11] = c23; o[12] = c30; o[13] = c31; o[14] = c32; o[15] = c33;
    }
  }
}

int main(void) {
  const int m = 1024, n = 256, k = 384;
  double *A = malloc(sizeof(double) * m * k), *B = malloc(sizeof(double) * n * k), *C = malloc(sizeof(double) * m * n);
  srand(1);
  for (int i = 0; i < m * k; i++) A[i] = rand() / (double)RAND_MAX;
  for (int i = 0; i < n * k; i++) B[i] = rand() / (double)RAND_MAX;
  double best = 0;
  for (int r = 0; r < 7; r++) {
    double t = now();
    kernel(A, B, C, m / 4, n / 4, k);
    double g = 2.0 * m * n * k / (now() - t) / 1e9;
    if (g > best) best = g;
  }
  printf("C scalar 4x4 gemm %dx%dx%d: best of 7 %.2f GFLOP/s (check %.3f)\n", m, n, k, best, C[0]);
  free(A);
  free(B);
  free(C);
  return 0;
}
