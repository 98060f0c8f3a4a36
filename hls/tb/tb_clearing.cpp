// C simulation test bench for the clearing kernel.
//
//   tb_clearing [--quick]     hand-worked cases, randomized cases against the independent
//                             reference in ref_clearing.h, and books at and across the tile
//                             size; exit 1 on any mismatch. `make csim` also builds it with a
//                             16-record tile and 4-record blocks (tb_clearing_small), so that
//                             small random books cross many tiles, blocks and DDR merge passes.
//   tb_clearing --eval        read one problem in the kernel's order on stdin, print the
//                             kernel's answer (the Python tests' third path next to edge.market
//                             and the sim back end):
//     in : "U n_a n_b" then n_a sells and n_b buys, each side in submission order, one
//          "qty price" line each
//          "M m l" then m generators and l loads, each side in submission order, one
//          "qmin qmax price" line each
//     out: "err bad has_price price volume regime iterations" then one "qty status" line per
//          order in the same order
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "../clearing.h"
#include "ref_clearing.h"

static int failures = 0, checks = 0;

template <class T>
static void expect(const std::string &what, T got, T want) {
  checks++;
  if (!(got == want)) {
    failures++;
    std::cerr << "FAIL " << what << ": got " << got << " want " << want << "\n";
  }
}

struct Run {
  std::vector<uint32_t> out;  // 32-bit view of the kernel's output, in the caller's order
  uint32_t hdr(uint32_t i) const { return out[i]; }
  uint64_t volume() const { return (uint64_t)out[CLR_H_VOLUME_LO] | ((uint64_t)out[CLR_H_VOLUME_HI] << 32); }
  uint32_t fill(size_t i) const { return out[CLR_HDR_WORDS + 2 * i]; }
  uint32_t status(size_t i) const { return out[CLR_HDR_WORDS + 2 * i + 1]; }
};

// What the driver does (edge/pl/abi.py): each side in submission order, sells/generators first.
template <class T>
static std::vector<size_t> kernel_order(const std::vector<T> &items, bool (*first)(const T &)) {
  std::vector<size_t> perm(items.size());
  for (size_t i = 0; i < perm.size(); i++) perm[i] = i;
  std::sort(perm.begin(), perm.end(), [&](size_t a, size_t b) {
    bool fa = first(items[a]), fb = first(items[b]);
    return fa != fb ? fa : items[a].rank < items[b].rank;
  });
  return perm;
}

// Run the kernel on words laid out in kernel order and map fills back through perm.
static Run run_kernel(const std::vector<uint64_t> &in, const std::vector<size_t> &perm,
                      uint32_t mode, uint32_t n_a, uint32_t n_b) {
  const size_t n = perm.size();
  std::vector<uint64_t> wa(n + 1, 0x5a5a5a5a5a5a5a5aull), wb(n + 1, 0x5a5a5a5a5a5a5a5aull);
  std::vector<uint64_t> out(CLR_HDR_BEATS + n, 0xa5a5a5a5a5a5a5a5ull);
  clearing(in.data(), out.data(), wa.data(), wb.data(), mode, n_a, n_b);
  Run r;
  r.out.assign(CLR_HDR_WORDS + 2 * n, 0);
  for (uint32_t h = 0; h < CLR_HDR_BEATS; h++) {
    r.out[2 * h] = (uint32_t)out[h];
    r.out[2 * h + 1] = (uint32_t)(out[h] >> 32);
  }
  for (size_t k = 0; k < n; k++) {
    r.out[CLR_HDR_WORDS + 2 * perm[k]] = (uint32_t)out[CLR_HDR_BEATS + k];
    r.out[CLR_HDR_WORDS + 2 * perm[k] + 1] = (uint32_t)(out[CLR_HDR_BEATS + k] >> 32);
  }
  return r;
}

static bool is_sell(const RefOrder &o) { return o.sell; }

static Run run_uniform(const std::vector<RefOrder> &o) {
  std::vector<size_t> perm = kernel_order(o, is_sell);
  std::vector<uint64_t> in(o.size() + 1, 0);
  uint32_t n_a = 0;
  for (size_t k = 0; k < o.size(); k++) {
    const RefOrder &x = o[perm[k]];
    in[k] = (uint64_t)x.qty | ((uint64_t)x.price << 32);
    n_a += x.sell ? 1u : 0u;
  }
  return run_kernel(in, perm, CLR_MODE_UNIFORM, n_a, (uint32_t)o.size() - n_a);
}

struct Tagged {
  RefUnit u;
  bool gen;
  uint32_t rank;
};
static bool is_gen(const Tagged &t) { return t.gen; }

static Run run_merit(const std::vector<RefUnit> &g, const std::vector<RefUnit> &l) {
  std::vector<Tagged> all;
  for (const RefUnit &u : g) all.push_back({u, true, u.rank});
  for (const RefUnit &u : l) all.push_back({u, false, u.rank});
  std::vector<size_t> perm = kernel_order(all, is_gen);
  std::vector<uint64_t> in(2 * all.size() + 1, 0);
  for (size_t k = 0; k < all.size(); k++) {
    const RefUnit &u = all[perm[k]].u;
    in[2 * k] = (uint64_t)u.qmin | ((uint64_t)u.qmax << 32);
    in[2 * k + 1] = u.price;
  }
  return run_kernel(in, perm, CLR_MODE_MERIT, (uint32_t)g.size(), (uint32_t)l.size());
}

// ---- hand-worked cases (the same cases are checked against edge.market in tests/pl) ----
struct Hand {
  const char *name;
  std::vector<RefOrder> orders;  // sell?, qty, price, rank
  bool has_price;
  uint32_t price;
  uint64_t volume;
  uint32_t regime, iterations;
  std::vector<uint32_t> fill, status;
};

static void hand_uniform() {
  const uint32_t U = CLR_ST_UNFILLED, P = CLR_ST_PARTIAL, F = CLR_ST_FILLED, X = CLR_ST_EXCLUDED;
  std::vector<Hand> cases = {
      {"buyers' market, marginal seller partly filled: its ask",
       {{true, 100, 10, 0}, {true, 100, 20, 1}, {true, 100, 30, 2}, {false, 150, 40, 3}},
       true, 20, 150, CLR_RG_BUYERS, 1, {100, 50, 0, 150}, {F, P, U, F}},
      {"buyers' market, marginal seller exactly filled: next ask",
       {{true, 100, 10, 0}, {true, 100, 20, 1}, {true, 100, 30, 2}, {false, 200, 40, 3}},
       true, 30, 200, CLR_RG_BUYERS, 1, {100, 100, 0, 200}, {F, F, U, F}},
      {"a bid below the price is excluded and the clearing repeated",
       {{true, 100, 10, 0}, {true, 100, 20, 1}, {true, 100, 30, 2}, {false, 100, 40, 3},
        {false, 100, 15, 4}},
       true, 20, 100, CLR_RG_BUYERS, 2, {100, 0, 0, 100, 0}, {F, U, U, F, X}},
      {"sellers' market, marginal buyer partly filled: its bid",
       {{true, 100, 10, 0}, {false, 80, 50, 1}, {false, 80, 40, 2}},
       true, 40, 100, CLR_RG_SELLERS, 1, {100, 80, 20}, {F, F, P}},
      {"balanced: the highest ask",
       {{true, 100, 10, 0}, {true, 50, 25, 1}, {false, 150, 30, 2}},
       true, 25, 150, CLR_RG_BALANCED, 1, {100, 50, 150}, {F, F, F}},
      {"equal asks: earlier submission first",
       {{true, 100, 10, 1}, {true, 100, 10, 0}, {false, 100, 20, 2}},
       true, 10, 100, CLR_RG_BUYERS, 1, {0, 100, 100}, {U, F, F}},
      {"sellers only: no trade", {{true, 100, 10, 0}, {true, 5, 1, 1}},
       false, 0, 0, CLR_RG_NO_TRADE, 1, {0, 0}, {U, U}},
      {"everything excluded: no trade, the regime of the last priced round stays",
       {{true, 100, 50, 0}, {false, 50, 10, 1}},
       false, 0, 0, CLR_RG_BUYERS, 2, {0, 0}, {U, X}},
      {"empty book", {}, false, 0, 0, CLR_RG_NO_TRADE, 1, {}, {}},
  };
  for (const Hand &h : cases) {
    Run r = run_uniform(h.orders);
    std::string n = h.name;
    expect(n + ": error", r.hdr(CLR_H_ERROR), 0u);
    expect(n + ": has_price", r.hdr(CLR_H_HAS_PRICE), h.has_price ? 1u : 0u);
    expect(n + ": price", r.hdr(CLR_H_PRICE), h.price);
    expect(n + ": volume", r.volume(), h.volume);
    expect(n + ": regime", r.hdr(CLR_H_REGIME), h.regime);
    expect(n + ": iterations", r.hdr(CLR_H_ITERATIONS), h.iterations);
    for (size_t i = 0; i < h.fill.size(); i++) {
      expect(n + ": fill " + std::to_string(i), r.fill(i), h.fill[i]);
      expect(n + ": status " + std::to_string(i), r.status(i), h.status[i]);
    }
  }
}

struct HandMerit {
  const char *name;
  std::vector<RefUnit> gens, loads;  // qmin, qmax, price, rank
  bool has_price;
  uint32_t price;
  uint64_t volume;
  uint32_t relaxed;
  std::vector<uint32_t> gen, load;
};

static void hand_merit() {
  std::vector<HandMerit> cases = {
      {"merit order up to the marginal generator", {{0, 100, 10, 0}, {0, 100, 20, 1}},
       {{0, 150, 30, 0}}, true, 20, 150, 0, {100, 50}, {150}},
      {"stops when the next offer is dearer than the bid", {{0, 100, 10, 0}, {0, 100, 20, 1}},
       {{0, 150, 15, 0}}, true, 10, 100, 0, {100, 0}, {100}},
      {"minimum surplus absorbed by loads in bid order at any price; price from minimums",
       {{80, 100, 10, 0}}, {{0, 50, 30, 0}, {0, 100, 5, 1}}, true, 10, 80, 0, {80}, {50, 30}},
      {"infeasible minimums are relaxed", {{200, 300, 10, 0}}, {{0, 100, 30, 0}}, true, 10,
       100, 1, {100}, {100}},
      {"load minimum deficit supplied in offer order at any price",
       {{0, 100, 10, 0}, {0, 100, 50, 1}}, {{150, 150, 20, 0}}, true, 50, 150, 0, {100, 50},
       {150}},
      {"no generators", {}, {{0, 100, 30, 0}}, false, 0, 0, 0, {}, {0}},
  };
  for (const HandMerit &h : cases) {
    Run r = run_merit(h.gens, h.loads);
    std::string n = h.name;
    expect(n + ": error", r.hdr(CLR_H_ERROR), 0u);
    expect(n + ": has_price", r.hdr(CLR_H_HAS_PRICE), h.has_price ? 1u : 0u);
    expect(n + ": price", r.hdr(CLR_H_PRICE), h.price);
    expect(n + ": volume", r.volume(), h.volume);
    expect(n + ": relaxed", r.hdr(CLR_H_REGIME), h.relaxed);
    for (size_t i = 0; i < h.gen.size(); i++) expect(n + ": gen " + std::to_string(i), r.fill(i), h.gen[i]);
    for (size_t i = 0; i < h.load.size(); i++)
      expect(n + ": load " + std::to_string(i), r.fill(h.gen.size() + i), h.load[i]);
  }
}

static void bad_inputs() {
  Run r = run_uniform({{true, 0, 10, 0}});
  expect("zero quantity refused", r.hdr(CLR_H_ERROR), CLR_ERR_QTY);
  r = run_uniform({{true, CLR_LIMIT, 10, 0}});
  expect("quantity >= 2^31 refused", r.hdr(CLR_H_ERROR), CLR_ERR_QTY);
  r = run_uniform({{false, 5, CLR_LIMIT, 0}, {true, 5, 10, 1}});
  expect("price >= 2^31 refused", r.hdr(CLR_H_ERROR), CLR_ERR_PRICE);
  expect("bad index counts the sells first", r.hdr(CLR_H_BAD_INDEX), 1u);
  r = run_merit({{10, 5, 1, 0}}, {});
  expect("qmin > qmax refused", r.hdr(CLR_H_ERROR), CLR_ERR_BOUNDS);
  r = run_merit({}, {{0, CLR_LIMIT, 1, 0}});
  expect("qmax >= 2^31 refused", r.hdr(CLR_H_ERROR), CLR_ERR_QTY);
  std::vector<uint64_t> out(CLR_HDR_BEATS, 0), unit = {5ull << 32, 1ull << 32};
  clearing(unit.data(), out.data(), unit.data(), unit.data(), CLR_MODE_MERIT, 1, 0);
  expect("reserved price bits refused", (uint32_t)out[0], CLR_ERR_PRICE);
  clearing(unit.data(), out.data(), unit.data(), unit.data(), CLR_MODE_UNIFORM, 1, CLR_MAX_ORDERS);
  expect("more than 2^20 orders refused", (uint32_t)out[0], CLR_ERR_SIZE);
  clearing(unit.data(), out.data(), unit.data(), unit.data(), 7u, 0, 0);
  expect("unknown mode refused", (uint32_t)out[0], CLR_ERR_MODE);
}

// ---- randomized cases against the reference ----
static uint32_t rng_state = 2463534242u;
static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state % n;
}

static std::vector<uint32_t> ranks(size_t n) {  // a random permutation: submission order
  std::vector<uint32_t> r(n);
  for (size_t i = 0; i < n; i++) r[i] = (uint32_t)i;
  for (size_t i = n; i > 1; i--) std::swap(r[i - 1], r[rnd((uint32_t)i)]);
  return r;
}

static void check_uniform(const std::string &name, const std::vector<RefOrder> &o) {
  Run r = run_uniform(o);
  RefResult want = ref_uniform(o);
  expect(name + " error", r.hdr(CLR_H_ERROR), 0u);
  expect(name + " has_price", r.hdr(CLR_H_HAS_PRICE), want.has_price ? 1u : 0u);
  expect(name + " price", r.hdr(CLR_H_PRICE), want.price);
  expect(name + " volume", r.volume(), want.volume);
  expect(name + " regime", r.hdr(CLR_H_REGIME), want.regime);
  bool same = true;
  for (size_t i = 0; i < o.size(); i++) same = same && r.fill(i) == want.fill[i] && r.status(i) == want.status[i];
  expect(name + " fills", same, true);
}

static void check_merit(const std::string &name, const std::vector<RefUnit> &g,
                        const std::vector<RefUnit> &ld) {
  Run r = run_merit(g, ld);
  RefDispatch want = ref_merit(g, ld);
  expect(name + " error", r.hdr(CLR_H_ERROR), 0u);
  expect(name + " has_price", r.hdr(CLR_H_HAS_PRICE), want.has_price ? 1u : 0u);
  expect(name + " price", r.hdr(CLR_H_PRICE), want.price);
  expect(name + " volume", r.volume(), want.volume);
  expect(name + " relaxed", r.hdr(CLR_H_REGIME), want.relaxed ? 1u : 0u);
  bool same = true;
  for (size_t i = 0; i < g.size(); i++) same = same && r.fill(i) == want.gen[i];
  for (size_t i = 0; i < ld.size(); i++) same = same && r.fill(g.size() + i) == want.load[i];
  expect(name + " dispatch", same, true);
}

// A random book with ns sells and nb buys, ranks a random permutation (sides interleaved).
static std::vector<RefOrder> book(size_t ns, size_t nb, uint32_t prices, uint32_t qmax) {
  std::vector<uint32_t> rk = ranks(ns + nb);
  std::vector<RefOrder> o(ns + nb);
  for (size_t i = 0; i < ns + nb; i++) o[i] = {i < ns, 1 + rnd(qmax), rnd(prices), rk[i]};
  for (size_t i = ns + nb; i > 1; i--) std::swap(o[i - 1], o[rnd((uint32_t)i)]);
  return o;
}

static std::vector<RefUnit> units(size_t n, uint32_t prices) {
  std::vector<uint32_t> rk = ranks(n);
  std::vector<RefUnit> u(n);
  for (size_t i = 0; i < n; i++) {
    uint32_t hi = rnd(1000), lo = rnd(4) == 0 ? rnd(hi + 1) : 0;
    u[i] = {lo, hi, rnd(prices), rk[i]};
  }
  return u;
}

static void random_uniform(int cases) {
  for (int c = 0; c < cases; c++) {
    size_t n = c < 50 ? (size_t)c % 5 : (c % 97 == 0 ? 5000 : rnd(60));
    uint32_t prices = 1 + rnd(c % 3 == 0 ? 3 : 1000), qmax = 1 + rnd(c % 5 == 0 ? 2 : 5000);
    size_t ns = n ? rnd((uint32_t)n + 1) : 0;
    std::vector<RefOrder> o = book(ns, n - ns, prices, qmax);
    if (c % 11 == 0)
      for (auto &x : o) x.qty = CLR_LIMIT - 1;  // sums beyond 32 bits
    check_uniform("random uniform case " + std::to_string(c), o);
  }
}

static void random_merit(int cases) {
  for (int c = 0; c < cases; c++) {
    size_t m = rnd(c % 13 == 0 ? 2000 : 12), l = rnd(c % 13 == 0 ? 2000 : 12);
    uint32_t prices = 1 + rnd(c % 3 == 0 ? 3 : 500);
    check_merit("random merit case " + std::to_string(c), units(m, prices), units(l, prices));
  }
}

// Side lengths around the tile size and over several tiles: the tile padding, the on-chip
// merge's last level, the DDR merge passes (odd and even counts, an odd run out) and the
// prefetch block boundaries. Few prices: long runs of equal keys across tiles test stability.
static void tile_boundaries() {
  const size_t t = CLR_TILE;
  std::vector<size_t> sizes = {t - 1, t, t + 1, 2 * t, 2 * t + 1, 3 * t + 5, 5 * t - 3};
  for (size_t s : sizes) {
    for (uint32_t prices : {3u, 100000u}) {
      std::string n = "tile " + std::to_string(CLR_TILE) + ": " + std::to_string(s) + " sells, " +
                      std::to_string(prices) + " prices";
      check_uniform(n + ", few buys", book(s, 1 + s / 3, prices, 1000));
      check_uniform(n + ", as many buys", book(s, s, prices, 1000));
      check_merit("merit " + n, units(s, prices), units(s + 3, prices));
    }
  }
}

static int eval() {
  std::string kind;
  uint32_t a = 0, b = 0;
  if (!(std::cin >> kind) || (kind != "U" && kind != "M")) {
    std::cerr << "expected U or M on the first line\n";
    return 2;
  }
  if (!(std::cin >> a >> b)) {
    std::cerr << "expected the two side sizes after " << kind << "\n";
    return 2;
  }
  const size_t n = (size_t)a + b, per = kind == "U" ? 2 : 3;
  std::vector<uint64_t> in((kind == "U" ? 1 : 2) * n + 1, 0), wa(n + 1), wb(n + 1),
      out(CLR_HDR_BEATS + n);
  for (size_t i = 0; i < n; i++) {
    uint64_t v[3];
    for (size_t k = 0; k < per; k++) {
      if (!(std::cin >> v[k])) {
        std::cerr << "row " << i << ": expected " << per << " unsigned integers\n";
        return 2;
      }
    }
    if (kind == "U") {
      in[i] = v[0] | (v[1] << 32);
    } else {
      in[2 * i] = v[0] | (v[1] << 32);
      in[2 * i + 1] = v[2];
    }
  }
  clearing(in.data(), out.data(), wa.data(), wb.data(),
           kind == "U" ? CLR_MODE_UNIFORM : CLR_MODE_MERIT, a, b);
  std::cout << (uint32_t)out[0] << " " << (out[0] >> 32) << " " << (uint32_t)out[1] << " "
            << (out[1] >> 32) << " " << out[2] << " " << (uint32_t)out[3] << " " << (out[3] >> 32)
            << "\n";
  if ((uint32_t)out[0] == CLR_OK)
    for (size_t i = 0; i < n; i++)
      std::cout << (uint32_t)out[CLR_HDR_BEATS + i] << " " << (out[CLR_HDR_BEATS + i] >> 32) << "\n";
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && std::string(argv[1]) == "--eval") return eval();
  const bool quick = argc == 2 && std::string(argv[1]) == "--quick";  // RTL co-simulation
  if (argc != 1 && !quick) {
    std::cerr << "usage: tb_clearing [--quick | --eval]\n";
    return 2;
  }
  const int cases = quick ? 40 : 3000;
  hand_uniform();
  hand_merit();
  bad_inputs();
  random_uniform(cases);
  random_merit(cases);
  if (!quick) tile_boundaries();  // --quick is the RTL co-simulation: books of a few thousand
  std::cout << "tb_clearing: " << checks - failures << "/" << checks
            << " checks passed (hand-worked, bad inputs, " << cases << "+" << cases
            << " randomized vs reference" << (quick ? "" : ", tile boundaries") << "; tile "
            << CLR_TILE << ", block "
            << CLR_BLOCK << ")\n";
  return failures ? 1 : 0;
}
