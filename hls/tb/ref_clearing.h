// Independent reference for the clearing test bench, written straight from the spec
// (the clearing rules of docs/market.md) in a deliberately different style from the kernel:
// std::vector of structs, std::sort with a comparator, every round recomputed from scratch.
#ifndef CARBON_EDGE_REF_CLEARING_H
#define CARBON_EDGE_REF_CLEARING_H

#include <algorithm>
#include <cstdint>
#include <vector>

struct RefOrder {
  bool sell;
  uint32_t qty, price, rank;
};
struct RefResult {
  bool has_price;
  uint32_t price;
  uint64_t volume;
  uint32_t regime;
  std::vector<uint32_t> fill, status;
};

inline RefResult ref_uniform(const std::vector<RefOrder> &o) {
  const size_t n = o.size();
  std::vector<size_t> sells, buys;
  for (size_t i = 0; i < n; i++) (o[i].sell ? sells : buys).push_back(i);
  std::sort(sells.begin(), sells.end(), [&](size_t a, size_t b) {
    return o[a].price != o[b].price ? o[a].price < o[b].price : o[a].rank < o[b].rank;
  });
  std::sort(buys.begin(), buys.end(), [&](size_t a, size_t b) {
    return o[a].price != o[b].price ? o[a].price > o[b].price : o[a].rank < o[b].rank;
  });
  std::vector<bool> excluded(n, false);
  RefResult r;
  r.regime = 0;
  for (;;) {
    std::vector<size_t> s, b;
    for (size_t i : sells)
      if (!excluded[i]) s.push_back(i);
    for (size_t i : buys)
      if (!excluded[i]) b.push_back(i);
    uint64_t qs = 0, qd = 0;
    for (size_t i : s) qs += o[i].qty;
    for (size_t i : b) qd += o[i].qty;
    r.fill.assign(n, 0);
    if (qs == 0 || qd == 0) {
      r.has_price = false;
      r.price = 0;
      r.volume = 0;
      break;
    }
    // The side that is short is filled completely; the long side is filled in order.
    const bool buyers = qs >= qd;  // buyers' market or balanced: sellers are rationed
    std::vector<size_t> &rationed = buyers ? s : b, &served = buyers ? b : s;
    const uint64_t vol = std::min(qs, qd);
    for (size_t i : served) r.fill[i] = o[i].qty;
    uint64_t left = vol;
    size_t m = 0;
    for (size_t k = 0; k < rationed.size(); k++) {
      uint64_t take = std::min<uint64_t>(left, o[rationed[k]].qty);
      r.fill[rationed[k]] = (uint32_t)take;
      left -= take;
      if (take > 0) m = k;
    }
    if (qs == qd) {
      r.regime = 3;
      r.price = o[s.back()].price;
    } else {
      r.regime = buyers ? 1 : 2;
      bool partial = r.fill[rationed[m]] < o[rationed[m]].qty;
      r.price = o[rationed[partial ? m : m + 1]].price;
    }
    r.has_price = true;
    r.volume = vol;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
      if (excluded[i]) continue;
      bool bad = (qs >= qd) ? (!o[i].sell && o[i].price < r.price)
                            : (o[i].sell && o[i].price > r.price);
      if (bad) excluded[i] = any = true;
    }
    if (!any) break;
  }
  r.status.assign(n, 0);
  for (size_t i = 0; i < n; i++) {
    if (excluded[i]) {
      r.status[i] = 3;
      r.fill[i] = 0;
    } else {
      r.status[i] = r.fill[i] == o[i].qty ? 2 : (r.fill[i] ? 1 : 0);
    }
  }
  return r;
}

struct RefUnit {
  uint32_t qmin, qmax, price, rank;
};
struct RefDispatch {
  bool has_price, relaxed;
  uint32_t price;
  uint64_t volume;
  std::vector<uint32_t> gen, load;
};

inline RefDispatch ref_merit(const std::vector<RefUnit> &g, const std::vector<RefUnit> &l) {
  uint64_t gmin = 0, gmax = 0, lmin = 0, lmax = 0;
  for (auto &u : g) gmin += u.qmin, gmax += u.qmax;
  for (auto &u : l) lmin += u.qmin, lmax += u.qmax;
  RefDispatch d;
  d.relaxed = gmin > lmax || lmin > gmax;
  d.gen.resize(g.size());
  d.load.resize(l.size());
  for (size_t i = 0; i < g.size(); i++) d.gen[i] = d.relaxed ? 0 : g[i].qmin;
  for (size_t i = 0; i < l.size(); i++) d.load[i] = d.relaxed ? 0 : l[i].qmin;
  std::vector<size_t> go(g.size()), lo(l.size());
  for (size_t i = 0; i < go.size(); i++) go[i] = i;
  for (size_t i = 0; i < lo.size(); i++) lo[i] = i;
  std::sort(go.begin(), go.end(), [&](size_t a, size_t b) {
    return g[a].price != g[b].price ? g[a].price < g[b].price : g[a].rank < g[b].rank;
  });
  std::sort(lo.begin(), lo.end(), [&](size_t a, size_t b) {
    return l[a].price != l[b].price ? l[a].price > l[b].price : l[a].rank < l[b].rank;
  });
  int64_t gsum = 0, lsum = 0;
  for (auto v : d.gen) gsum += v;
  for (auto v : d.load) lsum += v;
  d.has_price = false;
  d.price = 0;
  // Forced balance, one unit of each side at a time in priority order.
  for (size_t k = 0; k < lo.size() && gsum > lsum; k++) {
    size_t i = lo[k];
    int64_t take = std::min<int64_t>(gsum - lsum, l[i].qmax - d.load[i]);
    d.load[i] += (uint32_t)take;
    lsum += take;
  }
  size_t gk = 0;
  for (; gk < go.size() && lsum > gsum; gk++) {
    size_t i = go[gk];
    int64_t take = std::min<int64_t>(lsum - gsum, g[i].qmax - d.gen[i]);
    if (take > 0) d.has_price = true, d.price = g[i].price;
    d.gen[i] += (uint32_t)take;
    gsum += take;
    if (d.gen[i] < g[i].qmax) break;  // this unit still has room: matching starts here
  }
  // Greedy matching on what is left.
  size_t a = 0, b = 0;
  while (a < go.size() && b < lo.size()) {
    size_t i = go[a], j = lo[b];
    uint32_t gr = g[i].qmax - d.gen[i], lr = l[j].qmax - d.load[j];
    if (!gr) { a++; continue; }
    if (!lr) { b++; continue; }
    if (g[i].price > l[j].price) break;
    uint32_t t = std::min(gr, lr);
    d.gen[i] += t;
    d.load[j] += t;
    d.has_price = true;
    d.price = g[i].price;
  }
  if (!d.has_price)
    for (size_t i = 0; i < g.size(); i++)
      if (!d.relaxed && g[i].qmin > 0 && (!d.has_price || g[i].price > d.price))
        d.has_price = true, d.price = g[i].price;
  d.volume = 0;
  for (auto v : d.gen) d.volume += v;
  return d;
}

#endif
