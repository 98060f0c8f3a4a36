// Market clearing kernel: P5 uniform-price double auction and P1 merit order.
//
// Structure: validate -> split by side -> bottom-up merge sort of order
// indices (keys (price, rank), ranks unique so the order is total) -> linear
// passes that form the prefix sums, find the marginal order and apply the
// price rule. The uniform rule repeats the passes while limit-price exclusion
// removes orders (an exclusion only ever removes the tail of one side, so in
// practice one or two extra passes).
//
// Everything lives in DDR behind m_axi ports: 2^20 orders are 16 MiB of
// input, far beyond the XC7Z045's 2.4 MB of block RAM. Cycle estimates per
// pass are in docs/pl-estimates.md.
#include "clearing.h"

static inline uint32_t w_price(const uint32_t *in, uint32_t idx) { return in[CLR_IN_WORDS * idx + 2u]; }
static inline uint32_t w_rank(const uint32_t *in, uint32_t idx) { return in[CLR_IN_WORDS * idx + 3u]; }
static inline uint32_t w_qty(const uint32_t *in, uint32_t idx) { return in[CLR_IN_WORDS * idx + 1u]; }

// Priority key: ascending price (asks, offers) or descending price (bids), then rank.
static inline uint64_t sort_key(const uint32_t *in, uint32_t idx, bool desc) {
  uint32_t p = w_price(in, idx);
  if (desc) p = (CLR_LIMIT - 1u) - p;
  return ((uint64_t)p << 32) | (uint64_t)w_rank(in, idx);
}

static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

// Sort work[base .. base+len) by sort_key, with work[tmp .. tmp+len) as the other half of the
// ping-pong buffer. log2(len) passes of len element moves each.
static void merge_sort(const uint32_t *in, uint32_t *work, uint32_t base, uint32_t tmp,
                       uint32_t len, bool desc) {
  uint32_t src = base, dst = tmp;
  for (uint32_t width = 1; width < len; width *= 2u) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 20
    for (uint32_t lo = 0; lo < len; lo += 2u * width) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 524288
      uint32_t mid = min_u32(lo + width, len), hi = min_u32(lo + 2u * width, len);
      uint32_t i = lo, j = mid;
      for (uint32_t k = lo; k < hi; k++) {
#pragma HLS PIPELINE II = 2
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1048576
        bool left;
        if (i >= mid) {
          left = false;
        } else if (j >= hi) {
          left = true;
        } else {
          left = sort_key(in, work[src + i], desc) < sort_key(in, work[src + j], desc);
        }
        work[dst + k] = left ? work[src + i++] : work[src + j++];
      }
    }
    uint32_t t = src;
    src = dst;
    dst = t;
  }
  if (src != base) {
    for (uint32_t k = 0; k < len; k++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1048576
      work[base + k] = work[src + k];
    }
  }
}

static void put_header(uint32_t *out, uint32_t err, uint32_t bad, bool has_price, uint32_t price,
                       uint64_t volume, uint32_t regime, uint32_t iterations) {
  out[CLR_H_ERROR] = err;
  out[CLR_H_BAD_INDEX] = bad;
  out[CLR_H_HAS_PRICE] = has_price ? 1u : 0u;
  out[CLR_H_PRICE] = has_price ? price : 0u;
  out[CLR_H_VOLUME_LO] = (uint32_t)volume;
  out[CLR_H_VOLUME_HI] = (uint32_t)(volume >> 32);
  out[CLR_H_REGIME] = regime;
  out[CLR_H_ITERATIONS] = iterations;
}

static inline uint32_t *fill_of(uint32_t *out, uint32_t idx) {
  return out + CLR_HDR_WORDS + CLR_OUT_WORDS * idx;
}

// Walk one side in priority order, filling active orders until `target` is reached.
// Returns the price given by the marginal rule: the marginal order's limit if it is only
// partly filled, else the limit of the next active order (which exists: that side's total
// exceeds target).
static uint32_t fill_to(const uint32_t *in, uint32_t *out, const uint32_t *work, uint32_t base,
                        uint32_t len, uint64_t target) {
  uint64_t cum = 0;
  bool need_next = false, priced = false;
  uint32_t price = 0;
  for (uint32_t k = 0; k < len; k++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1048576
    uint32_t idx = work[base + k];
    uint32_t *f = fill_of(out, idx);
    if (f[1] == CLR_ST_EXCLUDED) continue;
    uint32_t q = w_qty(in, idx);
    if (need_next && !priced) {
      price = w_price(in, idx);
      priced = true;
    }
    if (cum < target) {
      uint64_t room = target - cum;
      uint32_t take = room < (uint64_t)q ? (uint32_t)room : q;
      f[0] = take;
      cum += take;
      if (cum == target) {
        if (take < q) {
          price = w_price(in, idx);
          priced = true;
        } else {
          need_next = true;
        }
      }
    }
  }
  return price;
}

// Fill every active order of one side completely.
static void fill_all(const uint32_t *in, uint32_t *out, const uint32_t *work, uint32_t base,
                     uint32_t len) {
  for (uint32_t k = 0; k < len; k++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1048576
    uint32_t idx = work[base + k];
    uint32_t *f = fill_of(out, idx);
    if (f[1] != CLR_ST_EXCLUDED) f[0] = w_qty(in, idx);
  }
}

// Exclude the active orders of one side whose limit is incompatible with `price`:
// bids below it (is_buy) or asks above it. Returns how many were excluded.
static uint32_t exclude(const uint32_t *in, uint32_t *out, const uint32_t *work, uint32_t base,
                        uint32_t len, bool is_buy, uint32_t price) {
  uint32_t n = 0;
  for (uint32_t k = 0; k < len; k++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1048576
    uint32_t idx = work[base + k];
    uint32_t *f = fill_of(out, idx);
    if (f[1] == CLR_ST_EXCLUDED) continue;
    uint32_t p = w_price(in, idx);
    if (is_buy ? p < price : p > price) {
      f[1] = CLR_ST_EXCLUDED;
      f[0] = 0;
      n++;
    }
  }
  return n;
}

static void clear_uniform_k(const uint32_t *in, uint32_t *out, uint32_t *work, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
    const uint32_t *o = in + CLR_IN_WORDS * i;
    uint32_t err = CLR_OK;
    if (o[0] > 1u) err = CLR_ERR_SIDE;
    else if (o[1] == 0u || o[1] >= CLR_LIMIT) err = CLR_ERR_QTY;
    else if (o[2] >= CLR_LIMIT) err = CLR_ERR_PRICE;
    else if (o[3] >= n) err = CLR_ERR_RANK;
    if (err != CLR_OK) {
      put_header(out, err, i, false, 0, 0, CLR_RG_NO_TRADE, 0);
      return;
    }
  }
  // Split: sells at work[0 .. ns), buys at work[ns .. n); merge scratch at work[n .. 2n).
  uint32_t ns = 0;
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
    uint32_t *f = fill_of(out, i);
    f[0] = 0;
    f[1] = CLR_ST_UNFILLED;
    if (in[CLR_IN_WORDS * i] == 1u) work[ns++] = i;
  }
  uint32_t nb = 0;
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
    if (in[CLR_IN_WORDS * i] == 0u) work[ns + nb++] = i;
  }
  merge_sort(in, work, 0, n, ns, false);
  merge_sort(in, work, ns, n + ns, nb, true);

  uint32_t regime = CLR_RG_NO_TRADE, price = 0, iterations = 0;
  bool has_price = false;
  uint64_t volume = 0;
  for (;;) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 3
    iterations++;
    uint64_t qs = 0, qd = 0;
    for (uint32_t k = 0; k < n; k++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
      uint32_t *f = fill_of(out, k);
      if (f[1] == CLR_ST_EXCLUDED) continue;
      f[0] = 0;
      if (in[CLR_IN_WORDS * k] == 1u) qs += w_qty(in, k);
      else qd += w_qty(in, k);
    }
    if (qs == 0 || qd == 0) {  // nothing trades; a regime fixed by an earlier round stays
      has_price = false;
      volume = 0;
      break;
    }
    uint32_t excluded;
    has_price = true;
    if (qs > qd) {
      regime = CLR_RG_BUYERS;
      volume = qd;
      fill_all(in, out, work, ns, nb);
      price = fill_to(in, out, work, 0, ns, qd);
      excluded = exclude(in, out, work, ns, nb, true, price);
    } else if (qs < qd) {
      regime = CLR_RG_SELLERS;
      volume = qs;
      fill_all(in, out, work, 0, ns);
      price = fill_to(in, out, work, ns, nb, qs);
      excluded = exclude(in, out, work, 0, ns, false, price);
    } else {
      regime = CLR_RG_BALANCED;
      volume = qs;
      fill_all(in, out, work, 0, ns);
      fill_all(in, out, work, ns, nb);
      for (uint32_t k = 0; k < ns; k++) {  // the highest active ask
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1048576
        uint32_t idx = work[k];
        if (fill_of(out, idx)[1] != CLR_ST_EXCLUDED) price = w_price(in, idx);
      }
      excluded = exclude(in, out, work, ns, nb, true, price);
    }
    if (excluded == 0) break;
  }
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
    uint32_t *f = fill_of(out, i);
    if (f[1] == CLR_ST_EXCLUDED) continue;
    uint32_t q = w_qty(in, i);
    f[1] = f[0] == q ? CLR_ST_FILLED : (f[0] > 0u ? CLR_ST_PARTIAL : CLR_ST_UNFILLED);
  }
  put_header(out, CLR_OK, 0, has_price, price, volume, regime, iterations);
}

// Energy a unit can still take: qmax minus what it is dispatched so far.
static inline uint32_t room_of(const uint32_t *in, uint32_t *out, uint32_t idx) {
  return w_qty(in, idx) - fill_of(out, idx)[0];
}

static void merit_order_k(const uint32_t *in, uint32_t *out, uint32_t *work, uint32_t m,
                          uint32_t l) {
  const uint32_t n = m + l;
  uint64_t gmin = 0, gmax = 0, lmin = 0, lmax = 0;
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
    const uint32_t *u = in + CLR_IN_WORDS * i;
    uint32_t err = CLR_OK;
    if (u[1] >= CLR_LIMIT) err = CLR_ERR_QTY;
    else if (u[0] > u[1]) err = CLR_ERR_BOUNDS;
    else if (u[2] >= CLR_LIMIT) err = CLR_ERR_PRICE;
    else if (u[3] >= (i < m ? m : l)) err = CLR_ERR_RANK;
    if (err != CLR_OK) {
      put_header(out, err, i, false, 0, 0, 0, 0);
      return;
    }
    if (i < m) {
      gmin += u[0];
      gmax += u[1];
    } else {
      lmin += u[0];
      lmax += u[1];
    }
  }
  const bool relaxed = gmin > lmax || lmin > gmax;
  uint64_t gm = 0, lm = 0;
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
    uint32_t *f = fill_of(out, i);
    f[0] = relaxed ? 0u : in[CLR_IN_WORDS * i];
    f[1] = 0;
    if (i < m) gm += f[0];
    else lm += f[0];
    work[i] = i;  // generators at work[0 .. m), loads at work[m .. n)
  }
  merge_sort(in, work, 0, n, m, false);
  merge_sort(in, work, m, n + m, l, true);

  uint32_t gi = 0, li = 0, price = 0;
  bool has_price = false;
  // Forced balance: whichever side's minimums fall short takes blocks in order, at any price.
  uint64_t surplus = gm > lm ? gm - lm : 0, deficit = lm > gm ? lm - gm : 0;
  while (surplus > 0 && li < l) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
    uint32_t u = work[m + li];
    uint32_t room = room_of(in, out, u);
    uint32_t take = surplus < (uint64_t)room ? (uint32_t)surplus : room;
    fill_of(out, u)[0] += take;
    surplus -= take;
    if (take == room) li++;
  }
  while (deficit > 0 && gi < m) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
    uint32_t g = work[gi];
    uint32_t room = room_of(in, out, g);
    uint32_t take = deficit < (uint64_t)room ? (uint32_t)deficit : room;
    if (take > 0) {
      fill_of(out, g)[0] += take;
      deficit -= take;
      price = w_price(in, g);
      has_price = true;
    }
    if (take == room) gi++;
  }
  // Greedy matching while the cheapest remaining offer is no dearer than the best bid.
  while (gi < m && li < l) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 2097152
    uint32_t g = work[gi], u = work[m + li];
    uint32_t groom = room_of(in, out, g), uroom = room_of(in, out, u);
    if (groom == 0) {
      gi++;
      continue;
    }
    if (uroom == 0) {
      li++;
      continue;
    }
    if (w_price(in, g) > w_price(in, u)) break;
    uint32_t take = groom < uroom ? groom : uroom;
    fill_of(out, g)[0] += take;
    fill_of(out, u)[0] += take;
    price = w_price(in, g);
    has_price = true;
  }
  uint64_t volume = 0;
  for (uint32_t i = 0; i < m; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
    volume += fill_of(out, i)[0];
  }
  // Only minimums dispatched: the dearest generator running at its minimum sets the price.
  if (!has_price && !relaxed) {
    for (uint32_t i = 0; i < m; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
      uint32_t p = w_price(in, i);
      if (in[CLR_IN_WORDS * i] > 0u && (!has_price || p > price)) {
        price = p;
        has_price = true;
      }
    }
  }
  put_header(out, CLR_OK, 0, has_price, price, volume, relaxed ? 1u : 0u, 0);
}

void clearing(const uint32_t *in, uint32_t *out, uint32_t *work, uint32_t mode, uint32_t n_a,
              uint32_t n_b) {
#pragma HLS INTERFACE m_axi port = in offset = slave bundle = gmem0 depth = 4096
#pragma HLS INTERFACE m_axi port = out offset = slave bundle = gmem1 depth = 2056
#pragma HLS INTERFACE m_axi port = work offset = slave bundle = gmem2 depth = 2048
#pragma HLS INTERFACE s_axilite port = in
#pragma HLS INTERFACE s_axilite port = out
#pragma HLS INTERFACE s_axilite port = work
#pragma HLS INTERFACE s_axilite port = mode
#pragma HLS INTERFACE s_axilite port = n_a
#pragma HLS INTERFACE s_axilite port = n_b
#pragma HLS INTERFACE s_axilite port = return
  if (mode == CLR_MODE_UNIFORM) {
    if (n_a > CLR_MAX_ORDERS || n_b != 0u) {
      put_header(out, CLR_ERR_SIZE, 0, false, 0, 0, CLR_RG_NO_TRADE, 0);
      return;
    }
    clear_uniform_k(in, out, work, n_a);
  } else if (mode == CLR_MODE_MERIT) {
    if (n_a > CLR_MAX_ORDERS || n_b > CLR_MAX_ORDERS) {
      put_header(out, CLR_ERR_SIZE, 0, false, 0, 0, 0, 0);
      return;
    }
    merit_order_k(in, out, work, n_a, n_b);
  } else {
    put_header(out, CLR_ERR_MODE, 0, false, 0, 0, 0, 0);
  }
}
