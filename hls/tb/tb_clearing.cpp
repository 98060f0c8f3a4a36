// C simulation test bench for the clearing kernel.
//
//   tb_clearing [--quick]     hand-worked cases, then randomized cases against the independent
//                             reference in ref_clearing.h; exit 1 on any mismatch.
//   tb_clearing --eval        read one problem on stdin, print the kernel's answer (used by the
//                             Python tests to compare the C simulation with edge.market):
//     in : "U n" then n lines "side qty price rank"        (side 0 buy, 1 sell)
//          "M m l" then m+l lines "qmin qmax price rank"   (generators first)
//     out: "err bad has_price price volume regime iterations" then one "qty status" per order
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
  std::vector<uint32_t> out;
  uint32_t hdr(uint32_t i) const { return out[i]; }
  uint64_t volume() const { return (uint64_t)out[CLR_H_VOLUME_LO] | ((uint64_t)out[CLR_H_VOLUME_HI] << 32); }
  uint32_t fill(size_t i) const { return out[CLR_HDR_WORDS + 2 * i]; }
  uint32_t status(size_t i) const { return out[CLR_HDR_WORDS + 2 * i + 1]; }
};

static Run run_uniform(const std::vector<RefOrder> &o) {
  std::vector<uint32_t> in(4 * o.size() + 1), work(2 * o.size() + 1);
  for (size_t i = 0; i < o.size(); i++) {
    in[4 * i] = o[i].sell ? 1u : 0u;
    in[4 * i + 1] = o[i].qty;
    in[4 * i + 2] = o[i].price;
    in[4 * i + 3] = o[i].rank;
  }
  Run r;
  r.out.assign(CLR_HDR_WORDS + 2 * o.size(), 0xa5a5a5a5u);
  clearing(in.data(), r.out.data(), work.data(), CLR_MODE_UNIFORM, (uint32_t)o.size(), 0);
  return r;
}

static Run run_merit(const std::vector<RefUnit> &g, const std::vector<RefUnit> &l) {
  size_t n = g.size() + l.size();
  std::vector<uint32_t> in(4 * n + 1), work(2 * n + 1);
  for (size_t i = 0; i < n; i++) {
    const RefUnit &u = i < g.size() ? g[i] : l[i - g.size()];
    in[4 * i] = u.qmin;
    in[4 * i + 1] = u.qmax;
    in[4 * i + 2] = u.price;
    in[4 * i + 3] = u.rank;
  }
  Run r;
  r.out.assign(CLR_HDR_WORDS + 2 * n, 0xa5a5a5a5u);
  clearing(in.data(), r.out.data(), work.data(), CLR_MODE_MERIT, (uint32_t)g.size(),
           (uint32_t)l.size());
  return r;
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
  r = run_uniform({{true, 5, 10, 0}, {false, 5, CLR_LIMIT, 1}});
  expect("price >= 2^31 refused", r.hdr(CLR_H_ERROR), CLR_ERR_PRICE);
  expect("bad order index reported", r.hdr(CLR_H_BAD_INDEX), 1u);
  r = run_uniform({{true, 5, 10, 7}});
  expect("rank out of range refused", r.hdr(CLR_H_ERROR), CLR_ERR_RANK);
  r = run_merit({{10, 5, 1, 0}}, {});
  expect("qmin > qmax refused", r.hdr(CLR_H_ERROR), CLR_ERR_BOUNDS);
  std::vector<uint32_t> out(CLR_HDR_WORDS, 0), nothing(4, 0);
  clearing(nothing.data(), out.data(), nothing.data(), 7u, 0, 0);
  expect("unknown mode refused", out[CLR_H_ERROR], CLR_ERR_MODE);
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

static void random_uniform(int cases) {
  for (int c = 0; c < cases; c++) {
    size_t n = c < 50 ? (size_t)c % 5 : (c % 97 == 0 ? 5000 : rnd(60));
    uint32_t prices = 1 + rnd(c % 3 == 0 ? 3 : 1000), qmax = 1 + rnd(c % 5 == 0 ? 2 : 5000);
    std::vector<uint32_t> rk = ranks(n);
    std::vector<RefOrder> o(n);
    for (size_t i = 0; i < n; i++) o[i] = {rnd(2) == 1, 1 + rnd(qmax), rnd(prices), rk[i]};
    if (c % 11 == 0)
      for (auto &x : o) x.qty = CLR_LIMIT - 1;  // sums beyond 32 bits
    Run r = run_uniform(o);
    RefResult want = ref_uniform(o);
    std::string n_ = "random uniform case " + std::to_string(c);
    expect(n_ + " error", r.hdr(CLR_H_ERROR), 0u);
    expect(n_ + " has_price", r.hdr(CLR_H_HAS_PRICE), want.has_price ? 1u : 0u);
    expect(n_ + " price", r.hdr(CLR_H_PRICE), want.price);
    expect(n_ + " volume", r.volume(), want.volume);
    expect(n_ + " regime", r.hdr(CLR_H_REGIME), want.regime);
    bool same = true;
    for (size_t i = 0; i < n; i++) same = same && r.fill(i) == want.fill[i] && r.status(i) == want.status[i];
    expect(n_ + " fills", same, true);
  }
}

static void random_merit(int cases) {
  for (int c = 0; c < cases; c++) {
    size_t m = rnd(c % 13 == 0 ? 2000 : 12), l = rnd(c % 13 == 0 ? 2000 : 12);
    uint32_t prices = 1 + rnd(c % 3 == 0 ? 3 : 500);
    std::vector<uint32_t> rg = ranks(m), rl = ranks(l);
    std::vector<RefUnit> g(m), ld(l);
    for (size_t i = 0; i < m; i++) {
      uint32_t hi = rnd(1000), lo = rnd(4) == 0 ? rnd(hi + 1) : 0;
      g[i] = {lo, hi, rnd(prices), rg[i]};
    }
    for (size_t i = 0; i < l; i++) {
      uint32_t hi = rnd(1000), lo = rnd(4) == 0 ? rnd(hi + 1) : 0;
      ld[i] = {lo, hi, rnd(prices), rl[i]};
    }
    Run r = run_merit(g, ld);
    RefDispatch want = ref_merit(g, ld);
    std::string n_ = "random merit case " + std::to_string(c);
    expect(n_ + " error", r.hdr(CLR_H_ERROR), 0u);
    expect(n_ + " has_price", r.hdr(CLR_H_HAS_PRICE), want.has_price ? 1u : 0u);
    expect(n_ + " price", r.hdr(CLR_H_PRICE), want.price);
    expect(n_ + " volume", r.volume(), want.volume);
    expect(n_ + " relaxed", r.hdr(CLR_H_REGIME), want.relaxed ? 1u : 0u);
    bool same = true;
    for (size_t i = 0; i < m; i++) same = same && r.fill(i) == want.gen[i];
    for (size_t i = 0; i < l; i++) same = same && r.fill(m + i) == want.load[i];
    expect(n_ + " dispatch", same, true);
  }
}

static int eval() {
  std::string kind;
  if (!(std::cin >> kind) || (kind != "U" && kind != "M")) {
    std::cerr << "expected U or M on the first line\n";
    return 2;
  }
  uint32_t a = 0, b = 0;
  if (!(std::cin >> a) || (kind == "M" && !(std::cin >> b))) {
    std::cerr << "expected the sizes after " << kind << "\n";
    return 2;
  }
  size_t n = (size_t)a + b;
  std::vector<uint32_t> in(4 * n + 1), work(2 * n + 1), out(CLR_HDR_WORDS + 2 * n);
  for (size_t i = 0; i < 4 * n; i++) {
    if (!(std::cin >> in[i])) {
      std::cerr << "row " << i / 4 << ": expected 4 unsigned integers\n";
      return 2;
    }
  }
  clearing(in.data(), out.data(), work.data(), kind == "U" ? CLR_MODE_UNIFORM : CLR_MODE_MERIT, a, b);
  uint64_t vol = (uint64_t)out[CLR_H_VOLUME_LO] | ((uint64_t)out[CLR_H_VOLUME_HI] << 32);
  std::cout << out[CLR_H_ERROR] << " " << out[CLR_H_BAD_INDEX] << " " << out[CLR_H_HAS_PRICE] << " "
            << out[CLR_H_PRICE] << " " << vol << " " << out[CLR_H_REGIME] << " "
            << out[CLR_H_ITERATIONS] << "\n";
  if (out[CLR_H_ERROR] == CLR_OK)
    for (size_t i = 0; i < n; i++)
      std::cout << out[CLR_HDR_WORDS + 2 * i] << " " << out[CLR_HDR_WORDS + 2 * i + 1] << "\n";
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
  std::cout << "tb_clearing: " << checks - failures << "/" << checks << " checks passed (hand-worked, bad inputs, "
            << cases << "+" << cases << " randomized vs reference)\n";
  return failures ? 1 : 0;
}
