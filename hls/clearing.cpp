// Market clearing kernel: P5 uniform-price double auction and P1 merit order.
//
// Designed for throughput, not for the fewest lines: every DDR access is a sequential burst
// or an off-the-critical-path single read, and every loop that touches N items runs at II = 1
// (II = 2 where a merit unit is two beats). Cycle counts per phase: docs/pl-estimates.md.
//
//   1. validate   one streaming pass over `in`: range checks, side totals (merit: the
//                 relaxation sums and the fallback price).
//   2. sort       per side, a stable sort of 64-bit records {key, qty} (key = price, or
//                 2^31-1-price for bids and loads so that both sides sort ascending):
//                 a. tiles of CLR_TILE records are burst-read into BRAM while an 8-wide
//                    odd-even merge sorting network (fully unrolled) sorts each group of 8;
//                 b. on-chip merge levels 8, 16, .. CLR_TILE/2 ping-pong between two BRAM
//                    tiles (II = 1, heads in registers); the last level streams straight to DDR;
//                 c. DDR merge passes double the run length, ping-pong between work_a and
//                    work_b (separate m_axi ports: reads of one overlap writes of the other);
//                    each run is read through a CLR_BLOCK-record BRAM prefetch buffer filled by
//                    bursts, and the merged output is a sequential burst write.
//                 The tile phase writes to work_b when the pass count is odd, so the sorted
//                 sides always end in work_a.
//   3. clear      streaming passes over the sorted sides: prefix sums until the marginal
//                 order (uniform) or the two-pointer forced balance and greedy matching
//                 (merit, through the same prefetch buffers); an exclusion is a prefix cut, so
//                 each round is at most one pass per side. The result is a handful of
//                 thresholds per side: a cut key (excluded beyond it) and the sorted position
//                 of the marginal order with its partial fill, as (key, count of equal keys
//                 before it): a binary search of single DDR reads finds that count.
//   4. output     one streaming pass over `in` again, in input order, classifies every order
//                 against its side's thresholds (counting equal keys as it goes, which is the
//                 stable sort's tie order) and writes fill and status in one burst. No scatter.
//
// Why no rank field: the driver lays each side out in submission order, so a stable sort on the
// price key alone is the (price, seq) order of the spec; that keeps a record at one 64-bit beat.
#include "clearing.h"

static_assert(CLR_TILE_LOG2 >= 3u && CLR_TILE_LOG2 <= 20u, "a tile holds 8 .. 2^20 records");
static_assert(CLR_BLOCK_LOG2 >= 1u && CLR_BLOCK_LOG2 <= 16u, "a prefetch block of 2 .. 65536");

typedef uint64_t rec_t;  // sort record: key << 32 | payload (uniform: qty; merit: flexible room)

#define KEY_NONE 0xffffffffu  // above every key (keys are < 2^31): padding, "no threshold"
static const rec_t REC_NONE = (uint64_t)KEY_NONE << 32;

static inline uint32_t lo32(uint64_t w) { return (uint32_t)w; }
static inline uint32_t hi32(uint64_t w) { return (uint32_t)(w >> 32); }
static inline rec_t mkrec(uint32_t key, uint32_t pay) { return ((uint64_t)key << 32) | pay; }
static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
// Price <-> key: descending sides (bids, loads) flip the price so every side sorts ascending.
static inline uint32_t flip(uint32_t price, bool desc) { return desc ? (CLR_LIMIT - 1u) - price : price; }

// The sort record of input item idx (its global index in `in`).
static inline rec_t load_rec(const uint64_t *in, uint32_t mode, uint32_t idx, bool desc,
                             bool relaxed) {
  if (mode == CLR_MODE_UNIFORM) {
    uint64_t w = in[idx];
    return mkrec(flip(hi32(w), desc), lo32(w));
  }
  uint64_t w0 = in[2u * idx], w1 = in[2u * idx + 1u];
  uint32_t qmin = relaxed ? 0u : lo32(w0);
  return mkrec(flip(lo32(w1), desc), hi32(w0) - qmin);
}

// ---- 2a: sorting network ------------------------------------------------------------------

// Batcher's odd-even merge sort of CLR_NET records (19 compare-exchanges, depth 6 for 8),
// fully unrolled. Sorting networks are not stable, so each lane carries its position and
// compares (key, position): equal keys keep their input order.
static void sort_net(rec_t v[CLR_NET]) {
#pragma HLS INLINE
  uint32_t pos[CLR_NET];
#pragma HLS ARRAY_PARTITION variable = pos complete
  for (uint32_t i = 0; i < CLR_NET; i++) {
#pragma HLS UNROLL
    pos[i] = i;
  }
  for (uint32_t p = 1; p < CLR_NET; p <<= 1) {
#pragma HLS UNROLL
    for (uint32_t k = p; k >= 1u; k >>= 1) {
#pragma HLS UNROLL
      for (uint32_t j = k % p; j + k < CLR_NET; j += 2u * k) {
#pragma HLS UNROLL
        for (uint32_t i = 0; i < k && i + j + k < CLR_NET; i++) {
#pragma HLS UNROLL
          uint32_t a = i + j, b = i + j + k;
          if (a / (2u * p) != b / (2u * p)) continue;
          uint32_t ka = hi32(v[a]), kb = hi32(v[b]);
          if (ka > kb || (ka == kb && pos[a] > pos[b])) {
            rec_t t = v[a];
            v[a] = v[b];
            v[b] = t;
            uint32_t s = pos[a];
            pos[a] = pos[b];
            pos[b] = s;
          }
        }
      }
    }
  }
}

// ---- 2b: one tile on chip -----------------------------------------------------------------

// Merge runs of `width` in src[0 .. cnt) into dst (a BRAM tile, or DDR for the last level).
// Stable: the left run wins ties. Each run's head and the element after it sit in registers
// (a, a2 / b, b2), so the BRAM read that refills a2 is never on the compare's recurrence:
// II = 1. A run past its end reads as REC_NONE, above every real key.
static void merge_level(const rec_t *src, rec_t *dst, uint32_t cnt, uint32_t width) {
  for (uint32_t lo = 0; lo < cnt; lo += 2u * width) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1024
    const uint32_t mid = min_u32(lo + width, cnt), hi = min_u32(lo + 2u * width, cnt);
    uint32_t i = lo, j = mid;
    rec_t a = src[i], a2 = i + 1u < mid ? src[i + 1u] : REC_NONE;
    rec_t b = j < hi ? src[j] : REC_NONE, b2 = j + 1u < hi ? src[j + 1u] : REC_NONE;
    for (uint32_t k = lo; k < hi; k++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 2 max = 16384
      if (hi32(a) <= hi32(b)) {
        dst[k] = a;
        i++;
        a = a2;
        a2 = i + 1u < mid ? src[i + 1u] : REC_NONE;
      } else {
        dst[k] = b;
        j++;
        b = b2;
        b2 = j + 1u < hi ? src[j + 1u] : REC_NONE;
      }
    }
  }
}

// Sort records [first + base, first + base + cnt) of `in` (cnt <= CLR_TILE) into dst at the
// same positions.
static void sort_tile(const uint64_t *in, uint32_t mode, uint32_t first, uint32_t base,
                      uint32_t cnt, bool desc, bool relaxed, rec_t ta[CLR_TILE],
                      rec_t tb[CLR_TILE], uint64_t *dst) {
  for (uint32_t g = 0; g < cnt; g += CLR_NET) {
#pragma HLS PIPELINE II = 8
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 2048
    rec_t v[CLR_NET];
#pragma HLS ARRAY_PARTITION variable = v complete
    for (uint32_t lane = 0; lane < CLR_NET; lane++) {
      v[lane] = g + lane < cnt ? load_rec(in, mode, first + base + g + lane, desc, relaxed)
                               : REC_NONE;
    }
    sort_net(v);
    for (uint32_t lane = 0; lane < CLR_NET; lane++) ta[g + lane] = v[lane];
  }
  uint32_t width = CLR_NET;
  bool in_a = true;
  for (; 2u * width < cnt; width *= 2u) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 10
    if (in_a) merge_level(ta, tb, cnt, width);
    else merge_level(tb, ta, cnt, width);
    in_a = !in_a;
  }
  if (cnt <= CLR_NET) {  // one group: the network sorted it
    for (uint32_t k = 0; k < cnt; k++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 8
      dst[first + base + k] = ta[k];
    }
  } else if (in_a) {
    merge_level(ta, dst + first + base, cnt, width);
  } else {
    merge_level(tb, dst + first + base, cnt, width);
  }
}

// ---- 2c: DDR merge passes -----------------------------------------------------------------

static void burst_read(const uint64_t *src, rec_t buf[CLR_BLOCK], uint32_t count) {
  for (uint32_t k = 0; k < count; k++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 512
    buf[k] = src[k];
  }
}

// Merge runs of `width` of the side at src[first .. first + len) into dst (same positions).
// Each run is read through its own prefetch block; the merge loop runs at II = 1 until a
// block with more of its run behind it is empty, then one burst refills it.
static void ddr_merge_pass(const uint64_t *src, uint64_t *dst, uint32_t first, uint32_t len,
                           uint32_t width, rec_t bl[CLR_BLOCK], rec_t br[CLR_BLOCK]) {
  for (uint32_t lo = 0; lo < len; lo += 2u * width) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 32
    const uint32_t mid = min_u32(lo + width, len), hi = min_u32(lo + 2u * width, len);
    uint32_t i = lo, j = mid, k = lo;
    uint32_t lb = lo, lc = 0, rb = mid, rc = 0;  // blocks hold [lb, lb + lc) and [rb, rb + rc)
    while (k < hi) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
      if (i == lb + lc && i < mid) {
        lb = i;
        lc = min_u32(CLR_BLOCK, mid - i);
        burst_read(src + first + lb, bl, lc);
      }
      if (j == rb + rc && j < hi) {
        rb = j;
        rc = min_u32(CLR_BLOCK, hi - j);
        burst_read(src + first + rb, br, rc);
      }
      while (k < hi) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1024
        rec_t a = i < mid ? bl[i - lb] : REC_NONE, b = j < hi ? br[j - rb] : REC_NONE;
        const bool left = hi32(a) <= hi32(b);
        dst[first + k] = left ? a : b;
        k++;
        if (left) i++;
        else j++;
        if ((i == lb + lc && i < mid) || (j == rb + rc && j < hi)) break;
      }
    }
  }
}

// Stable sort of one side, in[first .. first + len), into work_a at the same positions.
static void sort_side(const uint64_t *in, uint64_t *work_a, uint64_t *work_b, uint32_t mode,
                      uint32_t first, uint32_t len, bool desc, bool relaxed, rec_t ta[CLR_TILE],
                      rec_t tb[CLR_TILE], rec_t bl[CLR_BLOCK], rec_t br[CLR_BLOCK]) {
  const uint32_t tiles = (len + CLR_TILE - 1u) >> CLR_TILE_LOG2;
  uint32_t passes = 0;
  while ((1u << passes) < tiles) passes++;
  bool in_b = (passes & 1u) != 0u;  // start where an odd pass count ends in work_a
  for (uint32_t t = 0; t < tiles; t++) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 64
    const uint32_t base = t << CLR_TILE_LOG2, cnt = min_u32(CLR_TILE, len - base);
    if (in_b) sort_tile(in, mode, first, base, cnt, desc, relaxed, ta, tb, work_b);
    else sort_tile(in, mode, first, base, cnt, desc, relaxed, ta, tb, work_a);
  }
  for (uint32_t width = CLR_TILE; width < len; width *= 2u) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 6
    if (in_b) ddr_merge_pass(work_b, work_a, first, len, width, bl, br);
    else ddr_merge_pass(work_a, work_b, first, len, width, bl, br);
    in_b = !in_b;
  }
}

// ---- 3: thresholds on the sorted sides ----------------------------------------------------

// Where one side's fill changes: orders before sorted position `pos` are filled completely,
// the order at `pos` gets `part`, later ones nothing. key == KEY_NONE: everything is before.
// `before` = how many orders with this key precede `pos`, which is what the output pass counts.
struct Thr {
  uint32_t key, pos, before, part;
};

static inline Thr thr_none() {
  Thr t = {KEY_NONE, 0u, 0u, 0u};
  return t;
}

// First position in side[0 .. n) whose key is >= key: log2(n) single DDR reads.
static uint32_t lower_bound(const uint64_t *side, uint32_t n, uint32_t key) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 20
    uint32_t mid = lo + (hi - lo) / 2u;
    if (hi32(side[mid]) < key) lo = mid + 1u;
    else hi = mid;
  }
  return lo;
}

static inline void thr_count(const uint64_t *side, Thr &t) {
  if (t.key != KEY_NONE) t.before = t.pos - lower_bound(side, t.pos, t.key);
}

// Walk the first n records of a side until `target` (0 < target < their total) is reached:
// the marginal order is partly filled (pos = it, part = the rest) or exactly filled (pos = the
// next one, part = 0); either way the price is the key at pos.
static Thr marginal(const uint64_t *side, uint32_t n, uint64_t target) {
  Thr t = thr_none();
  uint64_t cum = 0;
  for (uint32_t k = 0; k < n; k++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1048576
    const rec_t r = side[k];
    const uint64_t next = cum + lo32(r);
    if (cum == target || next > target) {
      t.key = hi32(r);
      t.pos = k;
      t.part = (uint32_t)(target - cum);
      break;
    }
    cum = next;
  }
  return t;
}

// How many of the first n records have key <= cut (a prefix: the side is sorted), and their sum.
static uint32_t keep_prefix(const uint64_t *side, uint32_t n, uint32_t cut, uint64_t &sum) {
  uint32_t k = 0;
  sum = 0;
  for (; k < n; k++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
    const rec_t r = side[k];
    if (hi32(r) > cut) break;
    sum += lo32(r);
  }
  return k;
}

// Output pass helper: where an order of key `key` falls against its side's threshold; `seen`
// counts the orders of that key met so far in input order (= their order in the stable sort).
// Returns 0 before, 1 at, 2 after.
static inline uint32_t place(const Thr &t, uint32_t key, uint32_t &seen) {
  if (key != t.key) return key < t.key ? 0u : 2u;
  const uint32_t where = seen < t.before ? 0u : (seen == t.before ? 1u : 2u);
  seen++;
  return where;
}

// ---- the two rules ------------------------------------------------------------------------

static void put_header(uint64_t *out, uint32_t err, uint32_t bad, bool has_price, uint32_t price,
                       uint64_t volume, uint32_t regime, uint32_t iterations) {
  out[0] = ((uint64_t)bad << 32) | err;
  out[1] = ((uint64_t)(has_price ? price : 0u) << 32) | (has_price ? 1u : 0u);
  out[2] = volume;
  out[3] = ((uint64_t)iterations << 32) | regime;
}

static inline uint64_t out_word(uint32_t qty, uint32_t status) {
  return ((uint64_t)status << 32) | qty;
}

static void clear_uniform_k(const uint64_t *in, uint64_t *out, uint64_t *work_a,
                            uint64_t *work_b, uint32_t ns0, uint32_t nb0, rec_t ta[CLR_TILE],
                            rec_t tb[CLR_TILE], rec_t bl[CLR_BLOCK], rec_t br[CLR_BLOCK]) {
  const uint32_t n = ns0 + nb0;
  uint64_t qs = 0, qd = 0;
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
    const uint64_t w = in[i];
    const uint32_t q = lo32(w);
    uint32_t err = CLR_OK;
    if (q == 0u || q >= CLR_LIMIT) err = CLR_ERR_QTY;
    else if (hi32(w) >= CLR_LIMIT) err = CLR_ERR_PRICE;
    if (err != CLR_OK) {
      put_header(out, err, i, false, 0, 0, CLR_RG_NO_TRADE, 0);
      return;
    }
    if (i < ns0) qs += q;
    else qd += q;
  }
  sort_side(in, work_a, work_b, CLR_MODE_UNIFORM, 0, ns0, false, false, ta, tb, bl, br);
  sort_side(in, work_a, work_b, CLR_MODE_UNIFORM, ns0, nb0, true, false, ta, tb, bl, br);
  const uint64_t *sells = work_a, *buys = work_a + ns0;

  // Rounds: the active orders of each side are the prefix with key <= cut.
  uint32_t ns = ns0, nb = nb0, cut_s = KEY_NONE, cut_b = KEY_NONE;
  uint32_t regime = CLR_RG_NO_TRADE, price = 0, iterations = 0;
  bool trade = false;
  Thr ts = thr_none(), tb_ = thr_none();
  for (;;) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 3
    iterations++;
    if (qs == 0 || qd == 0) {  // nothing trades; a regime fixed by an earlier round stays
      trade = false;
      break;
    }
    trade = true;
    ts = thr_none();
    tb_ = thr_none();
    uint32_t kept;
    uint64_t sum;
    bool cut_buys;
    if (qs > qd) {  // buyers' market: sellers rationed, bids below the price excluded
      regime = CLR_RG_BUYERS;
      ts = marginal(sells, ns, qd);
      price = ts.key;
      cut_buys = true;
    } else if (qs < qd) {  // sellers' market: buyers rationed, asks above the price excluded
      regime = CLR_RG_SELLERS;
      tb_ = marginal(buys, nb, qs);
      price = flip(tb_.key, true);
      cut_buys = false;
    } else {  // balanced: all filled at the highest active ask; bids below it excluded
      regime = CLR_RG_BALANCED;
      price = hi32(sells[ns - 1u]);
      cut_buys = true;
    }
    if (cut_buys) {
      const uint32_t cut = flip(price, true);
      kept = keep_prefix(buys, nb, cut, sum);
      if (kept == nb) break;
      nb = kept;
      qd = sum;
      cut_b = cut;
    } else {
      kept = keep_prefix(sells, ns, price, sum);
      if (kept == ns) break;
      ns = kept;
      qs = sum;
      cut_s = price;
    }
  }
  thr_count(sells, ts);
  thr_count(buys, tb_);

  uint32_t seen_s = 0, seen_b = 0;
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 1048576
    const uint64_t w = in[i];
    const bool sell = i < ns0;
    const uint32_t q = lo32(w), key = flip(hi32(w), !sell);
    uint64_t o;
    if (key > (sell ? cut_s : cut_b)) {
      o = out_word(0, CLR_ST_EXCLUDED);
    } else if (!trade) {
      o = out_word(0, CLR_ST_UNFILLED);
    } else {
      const Thr &t = sell ? ts : tb_;
      const uint32_t where = place(t, key, sell ? seen_s : seen_b);
      const uint32_t f = where == 0u ? q : (where == 1u ? t.part : 0u);
      o = out_word(f, f == q ? CLR_ST_FILLED : (f > 0u ? CLR_ST_PARTIAL : CLR_ST_UNFILLED));
    }
    out[CLR_HDR_BEATS + i] = o;
  }
  put_header(out, CLR_OK, 0, trade, price, trade ? (qs < qd ? qs : qd) : 0u, regime,
             iterations);
}

// Refill a merit cursor's prefetch block when its position reached the block's end.
struct Cursor {
  uint32_t pos, len, base, count, fill;  // fill: what the unit at pos has taken beyond qmin
};

static inline bool cursor_dry(const Cursor &c) {
  return c.pos < c.len && c.pos == c.base + c.count;
}

static void cursor_load(const uint64_t *side, Cursor &c, rec_t buf[CLR_BLOCK]) {
  if (!cursor_dry(c)) return;
  c.base = c.pos;
  c.count = min_u32(CLR_BLOCK, c.len - c.pos);
  burst_read(side + c.base, buf, c.count);
}

static inline Thr cursor_thr(const uint64_t *side, const Cursor &c) {
  Thr t = thr_none();
  if (c.pos < c.len) {
    t.key = hi32(side[c.pos]);
    t.pos = c.pos;
    t.part = c.fill;
  }
  return t;
}

#define PH_SURPLUS 0u
#define PH_DEFICIT 1u
#define PH_MATCH 2u
#define PH_DONE 3u

static void merit_order_k(const uint64_t *in, uint64_t *out, uint64_t *work_a,
                          uint64_t *work_b, uint32_t m, uint32_t l, rec_t ta[CLR_TILE],
                          rec_t tb[CLR_TILE], rec_t bl[CLR_BLOCK], rec_t br[CLR_BLOCK]) {
  const uint32_t n = m + l;
  uint64_t gmin = 0, gmax = 0, lmin = 0, lmax = 0;
  uint32_t min_price = 0;  // the dearest generator with a minimum: the price of minimums only
  bool has_min = false;
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS PIPELINE II = 2
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 2097152
    const uint64_t w0 = in[2u * i], w1 = in[2u * i + 1u];
    const uint32_t qmin = lo32(w0), qmax = hi32(w0), p = lo32(w1);
    uint32_t err = CLR_OK;
    if (qmax >= CLR_LIMIT) err = CLR_ERR_QTY;
    else if (qmin > qmax) err = CLR_ERR_BOUNDS;
    else if (p >= CLR_LIMIT || hi32(w1) != 0u) err = CLR_ERR_PRICE;
    if (err != CLR_OK) {
      put_header(out, err, i, false, 0, 0, 0, 0);
      return;
    }
    if (i < m) {
      gmin += qmin;
      gmax += qmax;
      if (qmin > 0u && (!has_min || p > min_price)) {
        min_price = p;
        has_min = true;
      }
    } else {
      lmin += qmin;
      lmax += qmax;
    }
  }
  const bool relaxed = gmin > lmax || lmin > gmax;
  const uint64_t gm = relaxed ? 0u : gmin, lm = relaxed ? 0u : lmin;
  sort_side(in, work_a, work_b, CLR_MODE_MERIT, 0, m, false, relaxed, ta, tb, bl, br);
  sort_side(in, work_a, work_b, CLR_MODE_MERIT, m, l, true, relaxed, ta, tb, bl, br);
  const uint64_t *gens = work_a, *loads = work_a + m;

  // Forced balance (the side whose minimums fall short takes blocks in order at any price),
  // then greedy matching while the cheapest remaining offer is no dearer than the best bid.
  // One step moves at most one cursor; a step that needs a block not yet read ends the
  // pipelined run, the block is burst-read, and the run resumes.
  Cursor g = {0, m, 0, 0, 0}, u = {0, l, 0, 0, 0};
  uint64_t surplus = gm > lm ? gm - lm : 0, deficit = lm > gm ? lm - gm : 0;
  uint32_t phase = PH_SURPLUS, price = 0;
  bool has_price = false;
  while (phase != PH_DONE) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4096
    cursor_load(gens, g, bl);
    cursor_load(loads, u, br);
    while (phase != PH_DONE) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 1024
      const rec_t gr = g.pos < m ? bl[g.pos - g.base] : REC_NONE;
      const rec_t ur = u.pos < l ? br[u.pos - u.base] : REC_NONE;
      const uint32_t groom = g.pos < m ? lo32(gr) - g.fill : 0u;
      const uint32_t uroom = u.pos < l ? lo32(ur) - u.fill : 0u;
      if (phase == PH_SURPLUS) {  // loads absorb the generators' minimum surplus
        if (surplus == 0u || u.pos >= l) {
          phase = PH_DEFICIT;
        } else {
          const uint32_t take = surplus < (uint64_t)uroom ? (uint32_t)surplus : uroom;
          u.fill += take;
          surplus -= take;
          if (take == uroom) {
            u.pos++;
            u.fill = 0;
          }
        }
      } else if (phase == PH_DEFICIT) {  // generators supply the loads' minimum deficit
        if (deficit == 0u || g.pos >= m) {
          phase = PH_MATCH;
        } else {
          const uint32_t take = deficit < (uint64_t)groom ? (uint32_t)deficit : groom;
          if (take > 0u) {
            g.fill += take;
            deficit -= take;
            price = hi32(gr);
            has_price = true;
          }
          if (take == groom) {
            g.pos++;
            g.fill = 0;
          }
        }
      } else if (g.pos >= m || u.pos >= l) {
        phase = PH_DONE;
      } else if (groom == 0u) {
        g.pos++;
        g.fill = 0;
      } else if (uroom == 0u) {
        u.pos++;
        u.fill = 0;
      } else if (hi32(gr) > flip(hi32(ur), true)) {
        phase = PH_DONE;
      } else {
        const uint32_t take = groom < uroom ? groom : uroom;
        g.fill += take;
        u.fill += take;
        price = hi32(gr);
        has_price = true;
      }
      if (cursor_dry(g) || cursor_dry(u)) break;
    }
  }
  Thr tg = cursor_thr(gens, g), tl = cursor_thr(loads, u);
  thr_count(gens, tg);
  thr_count(loads, tl);
  if (!has_price && has_min && !relaxed) {  // only minimums dispatched
    price = min_price;
    has_price = true;
  }

  uint64_t volume = 0;
  uint32_t seen_g = 0, seen_l = 0;
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS PIPELINE II = 2
#pragma HLS LOOP_TRIPCOUNT min = 0 max = 2097152
    const uint64_t w0 = in[2u * i], w1 = in[2u * i + 1u];
    const bool gen = i < m;
    const uint32_t qmin = relaxed ? 0u : lo32(w0), qmax = hi32(w0);
    const uint32_t key = flip(lo32(w1), !gen);
    const Thr &t = gen ? tg : tl;
    const uint32_t where = place(t, key, gen ? seen_g : seen_l);
    const uint32_t d = where == 0u ? qmax : (where == 1u ? qmin + t.part : qmin);
    if (gen) volume += d;
    out[CLR_HDR_BEATS + i] = out_word(d, 0);
  }
  put_header(out, CLR_OK, 0, has_price, price, volume, relaxed ? 1u : 0u, 0);
}

// depth = what the co-simulation (tb_clearing --quick: up to 2 x 2000 merit units) touches.
void clearing(const uint64_t *in, uint64_t *out, uint64_t *work_a, uint64_t *work_b,
              uint32_t mode, uint32_t n_a, uint32_t n_b) {
#pragma HLS INTERFACE m_axi port = in offset = slave bundle = gmem0 depth = 8192 max_read_burst_length = 256
#pragma HLS INTERFACE m_axi port = out offset = slave bundle = gmem1 depth = 4100 max_write_burst_length = 256
#pragma HLS INTERFACE m_axi port = work_a offset = slave bundle = gmem2 depth = 4096 max_read_burst_length = 256 max_write_burst_length = 256
#pragma HLS INTERFACE m_axi port = work_b offset = slave bundle = gmem3 depth = 4096 max_read_burst_length = 256 max_write_burst_length = 256
#pragma HLS INTERFACE s_axilite port = in
#pragma HLS INTERFACE s_axilite port = out
#pragma HLS INTERFACE s_axilite port = work_a
#pragma HLS INTERFACE s_axilite port = work_b
#pragma HLS INTERFACE s_axilite port = mode
#pragma HLS INTERFACE s_axilite port = n_a
#pragma HLS INTERFACE s_axilite port = n_b
#pragma HLS INTERFACE s_axilite port = return
  // On-chip memory: two tiles for the ping-pong merge levels, cyclic in 8 banks so the network
  // writes a group of 8 in one cycle (2 x 128 KiB: 64 BRAM36), and two prefetch blocks.
  rec_t tile_a[CLR_TILE], tile_b[CLR_TILE], blk_l[CLR_BLOCK], blk_r[CLR_BLOCK];
#pragma HLS ARRAY_PARTITION variable = tile_a cyclic factor = 8
#pragma HLS ARRAY_PARTITION variable = tile_b cyclic factor = 8
#pragma HLS BIND_STORAGE variable = tile_a type = ram_t2p impl = bram
#pragma HLS BIND_STORAGE variable = tile_b type = ram_t2p impl = bram
  if (mode == CLR_MODE_UNIFORM) {
    if (n_a > CLR_MAX_ORDERS || n_b > CLR_MAX_ORDERS || n_a + n_b > CLR_MAX_ORDERS) {
      put_header(out, CLR_ERR_SIZE, 0, false, 0, 0, CLR_RG_NO_TRADE, 0);
      return;
    }
    clear_uniform_k(in, out, work_a, work_b, n_a, n_b, tile_a, tile_b, blk_l, blk_r);
  } else if (mode == CLR_MODE_MERIT) {
    if (n_a > CLR_MAX_ORDERS || n_b > CLR_MAX_ORDERS) {
      put_header(out, CLR_ERR_SIZE, 0, false, 0, 0, 0, 0);
      return;
    }
    merit_order_k(in, out, work_a, work_b, n_a, n_b, tile_a, tile_b, blk_l, blk_r);
  } else {
    put_header(out, CLR_ERR_MODE, 0, false, 0, 0, 0, 0);
  }
}
