/* Batch SHA-256 for Merkle trees, over OpenSSL's libcrypto.
 *
 * Why C at all: for 100-byte leaves Python spends more time calling hashlib
 * than hashing. This file is only the loop; the hashing is OpenSSL's (the
 * same code hashlib runs, with SHA-NI or NEON where the CPU has them).
 * Leaves are read in place from the Python list through three functions of
 * CPython's stable ABI (the library is loaded with ctypes.PyDLL, so the GIL
 * is held), so nothing is copied or packed first. Prototypes are declared
 * here so neither OpenSSL's nor Python's headers are needed to build.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct { unsigned char opaque[256]; } sha_ctx;
int SHA256_Init(sha_ctx *c);
int SHA256_Update(sha_ctx *c, const void *data, size_t len);
int SHA256_Final(unsigned char *md, sha_ctx *c);

typedef struct _object PyObject;
typedef intptr_t Py_ssize_t;
PyObject *PyList_GetItem(PyObject *list, Py_ssize_t i);
int PyBytes_AsStringAndSize(PyObject *obj, char **buffer, Py_ssize_t *length);

static void sha2(const unsigned char *a, size_t na, const unsigned char *b, size_t nb,
                 unsigned char *out) {
    sha_ctx c;
    SHA256_Init(&c);
    SHA256_Update(&c, a, na);
    if (nb) SHA256_Update(&c, b, nb);
    SHA256_Final(out, &c);
}

/* out[i] = SHA256([0x00 ||] list[i]) for a list of n bytes objects.
 * Returns 0, or -1 (with a Python exception set) when an item is not bytes. */
int hash_list(PyObject *list, Py_ssize_t n, int leaf_prefix, unsigned char *out) {
    static const unsigned char zero = 0x00;
    for (Py_ssize_t i = 0; i < n; i++) {
        char *m;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(PyList_GetItem(list, i), &m, &len) < 0) return -1;
        if (leaf_prefix) sha2(&zero, 1, (const unsigned char *)m, (size_t)len, out + 32 * i);
        else sha2((const unsigned char *)m, (size_t)len, NULL, 0, out + 32 * i);
    }
    return 0;
}

/* k node hashes from 2k digests: out[i] = SHA256(0x01 || d[2i] || d[2i+1]) */
void node_hashes(const unsigned char *digests, size_t k, unsigned char *out) {
    unsigned char buf[65];
    buf[0] = 0x01;
    for (size_t i = 0; i < k; i++) {
        memcpy(buf + 1, digests + 64 * i, 64);
        sha2(buf, 65, NULL, 0, out + 32 * i);
    }
}

/* RFC 6962 root over n >= 1 leaf hashes in `level` (32n bytes, overwritten):
 * pairs are hashed in place (parent i only overwrites digests already read)
 * and an odd last node is promoted. */
void root_of_hashes(unsigned char *level, size_t n, unsigned char *root) {
    while (n > 1) {
        size_t pairs = n / 2;
        node_hashes(level, pairs, level);
        if (n % 2) memmove(level + 32 * pairs, level + 32 * (n - 1), 32);
        n = pairs + n % 2;
    }
    memcpy(root, level, 32);
}
