// Market clearing kernel for the PL: the P5 uniform-price double auction and
// the P1 merit order, on 32-bit integers with 64-bit sums. Bit-exact with
// edge/market/clearing.py (rules in /work/briefs/clearing-spec.md).
//
// Memory layout (little-endian 32-bit words):
//   in   uniform: n_a orders x {side (0 buy, 1 sell), qty_wh, price, rank}
//        merit  : n_a generators then n_b loads x {qmin_wh, qmax_wh, price, rank}
//        rank = submission order, unique, 0..N-1 (the driver ranks the seqs).
//   out  CLR_HDR_WORDS header words, then 2 words per order/unit:
//        uniform: {filled qty_wh, status}   merit: {dispatched wh, 0}
//   work 2 * (n_a + n_b) words of scratch for the merge sort.
#ifndef CARBON_EDGE_CLEARING_H
#define CARBON_EDGE_CLEARING_H

#include <stdint.h>

#define CLR_MODE_UNIFORM 0u
#define CLR_MODE_MERIT 1u
#define CLR_MAX_ORDERS (1u << 20)
#define CLR_LIMIT 0x80000000u  // exclusive bound of prices and single quantities
#define CLR_IN_WORDS 4u
#define CLR_OUT_WORDS 2u
#define CLR_HDR_WORDS 8u

// header word indices
#define CLR_H_ERROR 0u      // CLR_OK or an error code below
#define CLR_H_BAD_INDEX 1u  // index of the first bad order/unit when ERROR != 0
#define CLR_H_HAS_PRICE 2u
#define CLR_H_PRICE 3u
#define CLR_H_VOLUME_LO 4u
#define CLR_H_VOLUME_HI 5u
#define CLR_H_REGIME 6u      // uniform: CLR_RG_*; merit: 1 when minimums were relaxed
#define CLR_H_ITERATIONS 7u  // uniform: exclusion rounds run; merit: 0

#define CLR_OK 0u
#define CLR_ERR_MODE 1u
#define CLR_ERR_SIZE 2u
#define CLR_ERR_SIDE 3u
#define CLR_ERR_QTY 4u
#define CLR_ERR_PRICE 5u
#define CLR_ERR_BOUNDS 6u
#define CLR_ERR_RANK 7u

#define CLR_ST_UNFILLED 0u
#define CLR_ST_PARTIAL 1u
#define CLR_ST_FILLED 2u
#define CLR_ST_EXCLUDED 3u

#define CLR_RG_NO_TRADE 0u
#define CLR_RG_BUYERS 1u
#define CLR_RG_SELLERS 2u
#define CLR_RG_BALANCED 3u

void clearing(const uint32_t *in, uint32_t *out, uint32_t *work, uint32_t mode, uint32_t n_a,
              uint32_t n_b);

#endif
