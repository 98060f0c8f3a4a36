// Market clearing kernel for the PL: the P5 uniform-price double auction and
// the P1 merit order, on 32-bit integers with 64-bit sums. Bit-exact with
// edge/market/clearing.py (both follow the clearing rules of docs/market.md).
//
// Memory layout (little-endian 64-bit words, one AXI beat each on a 64-bit HP port):
//   in   uniform: n_a sells then n_b buys, EACH SIDE IN SUBMISSION ORDER (the driver sorts by
//                 seq), one word per order: qty_wh | price << 32.
//        merit  : n_a generators then n_b loads, each side in submission order, two words per
//                 unit: qmin_wh | qmax_wh << 32, then price (high half 0).
//        Submission order is the position inside a side, so the tie-break needs no rank field:
//        the sort is stable and the kernel's records stay 64 bits wide.
//   out  CLR_HDR_WORDS 32-bit header words (CLR_HDR_BEATS beats), then one beat per order/unit
//        in the input's order: filled qty_wh | status << 32 (merit: dispatched wh | 0).
//   work_a, work_b  n_a + n_b words each: DDR ping-pong buffers of the sort. The sorted sides
//        end in work_a (sells/generators at [0, n_a), buys/loads at [n_a, n_a + n_b)).
#ifndef CARBON_EDGE_CLEARING_H
#define CARBON_EDGE_CLEARING_H

#include <stdint.h>

#define CLR_MODE_UNIFORM 0u
#define CLR_MODE_MERIT 1u
#define CLR_MAX_ORDERS (1u << 20)
#define CLR_LIMIT 0x80000000u  // exclusive bound of prices and single quantities
#define CLR_IN_WORDS_UNIFORM 2u  // 32-bit words per order in `in`
#define CLR_IN_WORDS_MERIT 4u    // 32-bit words per unit in `in`
#define CLR_OUT_WORDS 2u
#define CLR_HDR_WORDS 8u
#define CLR_HDR_BEATS 4u

// Design constants (docs/pl-estimates.md). A test bench build overrides them with -D to push
// small books through many tiles, blocks and DDR merge passes.
#ifndef CLR_TILE_LOG2
#define CLR_TILE_LOG2 14u  // on-chip tile: 16384 records, two BRAM buffers of 128 KiB
#endif
#ifndef CLR_BLOCK_LOG2
#define CLR_BLOCK_LOG2 9u  // DDR merge prefetch block: 512 records per run
#endif
#define CLR_TILE (1u << CLR_TILE_LOG2)
#define CLR_BLOCK (1u << CLR_BLOCK_LOG2)
#define CLR_NET 8u  // width of the sorting network that seeds every tile

// header word indices (32-bit words)
#define CLR_H_ERROR 0u      // CLR_OK or an error code below
#define CLR_H_BAD_INDEX 1u  // index in `in` of the first bad order/unit when ERROR != 0
#define CLR_H_HAS_PRICE 2u
#define CLR_H_PRICE 3u
#define CLR_H_VOLUME_LO 4u
#define CLR_H_VOLUME_HI 5u
#define CLR_H_REGIME 6u      // uniform: CLR_RG_*; merit: 1 when minimums were relaxed
#define CLR_H_ITERATIONS 7u  // uniform: exclusion rounds run; merit: 0

#define CLR_OK 0u
#define CLR_ERR_MODE 1u
#define CLR_ERR_SIZE 2u
#define CLR_ERR_QTY 4u
#define CLR_ERR_PRICE 5u
#define CLR_ERR_BOUNDS 6u

#define CLR_ST_UNFILLED 0u
#define CLR_ST_PARTIAL 1u
#define CLR_ST_FILLED 2u
#define CLR_ST_EXCLUDED 3u

#define CLR_RG_NO_TRADE 0u
#define CLR_RG_BUYERS 1u
#define CLR_RG_SELLERS 2u
#define CLR_RG_BALANCED 3u

void clearing(const uint64_t *in, uint64_t *out, uint64_t *work_a, uint64_t *work_b,
              uint32_t mode, uint32_t n_a, uint32_t n_b);

#endif
