// SHA-256 (FIPS 180-4) batch kernel.
//
// Design point (see docs/pl-estimates.md for the derivation of the figures):
//   * one compression round per clock: the 64-round loop is pipelined at II=1,
//     the message schedule W[t] is produced on the fly from a 16-word shift
//     register, so a 64-byte block costs 16 (fetch) + 64 (rounds) + 4 (state
//     update and loop overhead) = 84 cycles; latency of one block = 84 cycles.
//   * the fetch loop assembles one 32-bit word per clock (II=1) from the
//     little-endian data port and inserts the RFC 6962 prefix byte, the 0x80
//     terminator and the 64-bit bit length, so the host never pads anything.
//   * target clock 100 MHz on xc7z045ffg900-2 (10 ns; the round's critical path
//     is the T1 adder tree: five 32-bit operands, well inside 10 ns on -2).
#include "sha256.h"

static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u};

static const uint32_t H0[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                               0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};

static inline uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }
static inline uint32_t big_s0(uint32_t x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
static inline uint32_t big_s1(uint32_t x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
static inline uint32_t small_s0(uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
static inline uint32_t small_s1(uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }

static void compress(uint32_t h[8], const uint32_t block[16]) {
  uint32_t w[16];
#pragma HLS ARRAY_PARTITION variable = w complete
  for (int j = 0; j < 16; j++) {
#pragma HLS UNROLL
    w[j] = block[j];
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int t = 0; t < 64; t++) {
#pragma HLS PIPELINE II = 1
    uint32_t wt = w[0];
    uint32_t t1 = hh + big_s1(e) + ((e & f) ^ (~e & g)) + K[t] + wt;
    uint32_t t2 = big_s0(a) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
    // W[t+16] from the window W[t..t+15]; shifting keeps every access at a fixed index.
    uint32_t next = small_s1(w[14]) + w[9] + small_s0(w[1]) + w[0];
    for (int j = 0; j < 15; j++) {
#pragma HLS UNROLL
      w[j] = w[j + 1];
    }
    w[15] = next;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

static inline uint32_t data_byte(const uint32_t *data, uint32_t addr) {
  return (data[addr >> 2] >> ((addr & 3u) * 8u)) & 0xffu;
}

// Byte `pos` of the padded message: [prefix] data[off .. off+len) 0x80 0.. bitlen(64, BE).
static inline uint32_t padded_byte(const uint32_t *data, uint32_t off, uint64_t pos,
                                   uint32_t npfx, uint32_t pfx, uint64_t total, uint64_t end,
                                   uint64_t bits) {
  if (pos < npfx) return pfx;
  if (pos < total) return data_byte(data, off + (uint32_t)(pos - npfx));
  if (pos == total) return 0x80u;
  if (pos + 8 >= end) return (uint32_t)(bits >> (8u * (uint32_t)(end - 1 - pos))) & 0xffu;
  return 0;
}

static void hash_one(const uint32_t *data, uint32_t off, uint32_t len, uint32_t npfx,
                     uint32_t pfx, uint32_t h[8]) {
  const uint64_t total = (uint64_t)len + npfx;
  const uint64_t nblocks = (total + 72u) / 64u;  // room for 0x80 and the 8-byte length
  const uint64_t end = nblocks * 64u;
  const uint64_t bits = total * 8u;
  for (int j = 0; j < 8; j++) {
#pragma HLS UNROLL
    h[j] = H0[j];
  }
  for (uint64_t blk = 0; blk < nblocks; blk++) {
    uint32_t block[16];
#pragma HLS ARRAY_PARTITION variable = block complete
    for (int j = 0; j < 16; j++) {
#pragma HLS PIPELINE II = 1
      uint32_t word = 0;
      for (int k = 0; k < 4; k++) {
        uint64_t pos = blk * 64u + 4u * (uint64_t)j + (uint64_t)k;
        word = (word << 8) | padded_byte(data, off, pos, npfx, pfx, total, end, bits);
      }
      block[j] = word;
    }
    compress(h, block);
  }
}

static inline uint32_t bswap32(uint32_t x) {
  return (x >> 24) | ((x >> 8) & 0xff00u) | ((x << 8) & 0xff0000u) | (x << 24);
}

void sha256_batch(const uint32_t *data, const uint32_t *table, uint32_t *digests,
                  uint32_t count, uint32_t mode) {
#pragma HLS INTERFACE m_axi port = data offset = slave bundle = gmem0 depth = 4096 max_read_burst_length = 16
#pragma HLS INTERFACE m_axi port = table offset = slave bundle = gmem1 depth = 2048
#pragma HLS INTERFACE m_axi port = digests offset = slave bundle = gmem1 depth = 8192
#pragma HLS INTERFACE s_axilite port = data
#pragma HLS INTERFACE s_axilite port = table
#pragma HLS INTERFACE s_axilite port = digests
#pragma HLS INTERFACE s_axilite port = count
#pragma HLS INTERFACE s_axilite port = mode
#pragma HLS INTERFACE s_axilite port = return
  if (mode > SHA_MODE_NODE || count > SHA_MAX_MESSAGES) return;  // drivers refuse these first
  for (uint32_t i = 0; i < count; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1048576
    uint32_t off, len, npfx, pfx;
    if (mode == SHA_MODE_NODE) {
      off = 64u * i;
      len = 64u;
      npfx = 1u;
      pfx = 0x01u;
    } else {
      off = table[2u * i];
      len = table[2u * i + 1u];
      npfx = mode == SHA_MODE_LEAF ? 1u : 0u;
      pfx = 0x00u;
    }
    uint32_t h[8];
#pragma HLS ARRAY_PARTITION variable = h complete
    hash_one(data, off, len, npfx, pfx, h);
    for (int j = 0; j < 8; j++) {
#pragma HLS PIPELINE II = 1
      digests[8u * i + (uint32_t)j] = bswap32(h[j]);
    }
  }
}
