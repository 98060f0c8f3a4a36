// SHA-256 batch kernel for the PL: plain messages, RFC 6962 leaves and nodes.
//
// Memory layout (all little-endian 32-bit words, as the Cortex-A9 writes them):
//   data    : the message bytes, packed; byte a lives in data[a/4] bits 8*(a%4).
//   table   : plain/leaf modes: count pairs {byte offset into data, byte length}.
//             node mode: unused (the kernel reads 64-byte digest pairs from data).
//   digests : count * 8 words; digest i occupies bytes 32*i .. 32*i+31 in the
//             usual big-endian SHA-256 byte order.
#ifndef CARBON_EDGE_SHA256_H
#define CARBON_EDGE_SHA256_H

#include <stdint.h>

#define SHA_MODE_PLAIN 0u  // SHA256(m)
#define SHA_MODE_LEAF 1u   // SHA256(0x00 || m)         RFC 6962 leaf
#define SHA_MODE_NODE 2u   // SHA256(0x01 || d[2i] || d[2i+1])  RFC 6962 node
#define SHA_MAX_MESSAGES (1u << 20)

void sha256_batch(const uint32_t *data, const uint32_t *table, uint32_t *digests,
                  uint32_t count, uint32_t mode);

#endif
