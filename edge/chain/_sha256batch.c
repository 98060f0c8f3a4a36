/* Batch SHA-256 for Merkle trees: a CPython extension over OpenSSL's libcrypto.
 *
 * Why C at all: for 100-byte leaves Python spends more time calling hashlib
 * than hashing. This file is only the loops; the hashing is OpenSSL's (the
 * same code hashlib runs, with SHA-NI or NEON where the CPU has them).
 * Built at install time (setup.py declares it, optional): where it could not
 * be built, edge.chain.native says so once and the chain hashes with hashlib.
 *
 * Each call takes new references to the input bytes objects, releases the
 * GIL for the hashing itself and gives the references back afterwards, so
 * other threads (MQTT, admission) run while a block's tree is hashed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* OpenSSL's SHA-256 context calls; declared here so only libcrypto (not its headers) is
 * needed. Not the one-shot SHA256(): since OpenSSL 3.0 it looks the algorithm up on every
 * call, which cost about 0.35 us a 111-byte message against 0.09 us through a context
 * (measured on the development host, OpenSSL 3.0.19): more than the hashing itself. */
typedef struct { unsigned char opaque[256]; } sha_ctx;
int SHA256_Init(sha_ctx *c);
int SHA256_Update(sha_ctx *c, const void *data, size_t len);
int SHA256_Final(unsigned char *md, sha_ctx *c);

/* Hash message m (len bytes) with an optional one-byte prefix (prefix < 0: none) into out. */
static void hash_prefixed(int prefix, const unsigned char *m, size_t len, unsigned char *out) {
    sha_ctx c;
    SHA256_Init(&c);
    if (prefix >= 0) {
        unsigned char p = (unsigned char)prefix;
        SHA256_Update(&c, &p, 1);
    }
    SHA256_Update(&c, m, len);
    SHA256_Final(out, &c);
}

/* k node hashes from 2k digests: out[i] = SHA256(0x01 || d[2i] || d[2i+1]); out may be d. */
static void node_loop(const unsigned char *digests, size_t k, unsigned char *out) {
    unsigned char buf[65];
    buf[0] = 0x01;
    for (size_t i = 0; i < k; i++) {
        memcpy(buf + 1, digests + 64 * i, 64);
        hash_prefixed(-1, buf, 65, out + 32 * i);
    }
}

/* RFC 6962 root over n >= 1 leaf hashes in `level` (overwritten); odd last node promoted. */
static void root_loop(unsigned char *level, size_t n, unsigned char *root) {
    while (n > 1) {
        size_t pairs = n / 2;
        node_loop(level, pairs, level);
        if (n % 2) memmove(level + 32 * pairs, level + 32 * (n - 1), 32);
        n = pairs + n % 2;
    }
    memcpy(root, level, 32);
}

/* Digests of every item of a list of bytes (with prefix) as one bytes object of 32 n. */
static PyObject *hash_items(PyObject *seq, int prefix) {
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of bytes");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    const unsigned char **ptrs = PyMem_Malloc(sizeof *ptrs * (size_t)(n ? n : 1));
    size_t *lens = PyMem_Malloc(sizeof *lens * (size_t)(n ? n : 1));
    PyObject **held = PyMem_Malloc(sizeof *held * (size_t)(n ? n : 1));
    PyObject *out = NULL;
    Py_ssize_t got = 0;
    if (!ptrs || !lens || !held) { PyErr_NoMemory(); goto done; }
    for (; got < n; got++) {
        PyObject *it = items[got];
        if (!PyBytes_Check(it)) {
            PyErr_Format(PyExc_TypeError, "item %zd is %.100s, not bytes", got,
                         Py_TYPE(it)->tp_name);
            goto done;
        }
        Py_INCREF(it);
        held[got] = it;
        ptrs[got] = (const unsigned char *)PyBytes_AS_STRING(it);
        lens[got] = (size_t)PyBytes_GET_SIZE(it);
    }
    out = PyBytes_FromStringAndSize(NULL, 32 * n);
    if (!out) goto done;
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) hash_prefixed(prefix, ptrs[i], lens[i], dst + 32 * i);
    Py_END_ALLOW_THREADS
done:
    for (Py_ssize_t i = 0; i < got; i++) Py_DECREF(held[i]);
    PyMem_Free(ptrs);
    PyMem_Free(lens);
    PyMem_Free(held);
    Py_DECREF(fast);
    return out;
}

static PyObject *py_sha256_many(PyObject *self, PyObject *seq) { return hash_items(seq, -1); }

static PyObject *py_leaf_hashes(PyObject *self, PyObject *seq) { return hash_items(seq, 0); }

static PyObject *py_node_hashes(PyObject *self, PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    if (b.len % 64) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "node_hashes needs 64 bytes per pair of digests");
        return NULL;
    }
    size_t k = (size_t)b.len / 64;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(32 * k));
    if (out) {
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
        Py_BEGIN_ALLOW_THREADS
        node_loop(b.buf, k, dst);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&b);
    return out;
}

static PyObject *py_merkle_root(PyObject *self, PyObject *seq) {
    PyObject *level = hash_items(seq, 0);
    if (!level) return NULL;
    Py_ssize_t n = PyBytes_GET_SIZE(level) / 32;
    if (n == 0) {
        Py_DECREF(level);
        PyErr_SetString(PyExc_ValueError, "merkle_root needs at least one leaf");
        return NULL;
    }
    unsigned char root[32];
    unsigned char *buf = (unsigned char *)PyBytes_AS_STRING(level); /* fresh, unshared */
    Py_BEGIN_ALLOW_THREADS
    root_loop(buf, (size_t)n, root);
    Py_END_ALLOW_THREADS
    Py_DECREF(level);
    return PyBytes_FromStringAndSize((const char *)root, 32);
}

static PyMethodDef methods[] = {
    {"sha256_many", py_sha256_many, METH_O, "SHA-256 of each bytes item, concatenated."},
    {"leaf_hashes", py_leaf_hashes, METH_O, "SHA-256(0x00 || item) of each item, concatenated."},
    {"node_hashes", py_node_hashes, METH_O,
     "SHA-256(0x01 || left || right) of each 64-byte pair of a buffer, concatenated."},
    {"merkle_root", py_merkle_root, METH_O, "RFC 6962 root of a non-empty list of leaves."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sha256batch",
                                    "Batch SHA-256 loops over OpenSSL.", -1, methods};

PyMODINIT_FUNC PyInit__sha256batch(void) { return PyModule_Create(&module); }
