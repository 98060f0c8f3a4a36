// C ABI over the two kernel top functions, for the `sim` back end (edge/pl/simlib.py),
// which loads this file and the kernels compiled with g++ into a shared library via ctypes.
// Not part of the HLS sources: Vitis synthesises sha256.cpp and clearing.cpp alone.
#include "clearing.h"
#include "sha256.h"

extern "C" {
void ce_sha256_batch(const uint32_t *data, const uint32_t *table, uint32_t *digests,
                     uint32_t count, uint32_t mode) {
  sha256_batch(data, table, digests, count, mode);
}

void ce_clearing(const uint64_t *in, uint64_t *out, uint64_t *work_a, uint64_t *work_b,
                 uint32_t mode, uint32_t n_a, uint32_t n_b) {
  clearing(in, out, work_a, work_b, mode, n_a, n_b);
}

// 2: clearing takes 64-bit words and two work buffers (sides in submission order).
uint32_t ce_abi_version(void) { return 2u; }
}
