/* The numpy clearing path's one Python-object step in C: read a book's Order objects
 * into columns.
 *
 * Why C: numpy cannot read attributes of Python objects, and in CPython the
 * five list comprehensions plus the exact-type checks the clearing's input
 * rules need cost about 5x the whole vectorised clearing after them. This
 * reads the dataclass's slots directly (offsets from its member descriptors)
 * in one pass. It only READS and CHECKS: any value outside the plain cases
 * (another type, a bool, an int beyond 64 bits, an empty or non-str id, a side
 * other than "buy"/"sell") makes it return None, and the caller falls back to
 * Python, which names the culprit. Built at install time (setup.py, optional).
 *
 * ``fill_block`` is the other side of the same cost: a round's result carries every fill,
 * as the binary block of edge/protocol/fills.py. It writes the block in one pass over the
 * cleared orders, and again returns None for anything outside the plain cases (Python's
 * reference encoder then names the bad fill).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#define NFIELDS 5
static const char *FIELDS[NFIELDS] = {"id", "side", "qty_wh", "price", "seq"};

static int offsets_of(PyTypeObject *tp, Py_ssize_t *off) {
    for (int i = 0; i < NFIELDS; i++) {
        PyObject *d = PyDict_GetItemString(tp->tp_dict, FIELDS[i]);  /* borrowed */
        if (!d || Py_TYPE(d) != &PyMemberDescr_Type) return -1;
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != T_OBJECT_EX) return -1;
        off[i] = m->offset;
    }
    return 0;
}

static int int64_of(PyObject *v, int64_t *out) {
    if (!v || !PyLong_CheckExact(v)) return -1;  /* bools are not exact ints */
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) { PyErr_Clear(); return -1; }
    *out = (int64_t)x;
    return 0;
}

/* order_columns(orders: list, order_type) ->
 *   (qty, price, seq, id_hash: bytes of int64 each, buy: bytes of uint8) or None */
static PyObject *order_columns(PyObject *self, PyObject *args) {
    PyObject *list, *tpo;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &list, &PyType_Type, &tpo)) return NULL;
    PyTypeObject *tp = (PyTypeObject *)tpo;
    Py_ssize_t off[NFIELDS];
    if (offsets_of(tp, off) < 0) Py_RETURN_NONE;
    Py_ssize_t n = PyList_GET_SIZE(list);
    if (n > PY_SSIZE_T_MAX / 8) return PyErr_NoMemory();  /* n * 8 below: a 32-bit board */
    PyObject *cols[4] = {NULL, NULL, NULL, NULL}, *buy = NULL, *out = NULL;
    for (int c = 0; c < 4; c++)
        if (!(cols[c] = PyBytes_FromStringAndSize(NULL, n * 8))) goto fail;
    if (!(buy = PyBytes_FromStringAndSize(NULL, n))) goto fail;
    int64_t *qty = (int64_t *)PyBytes_AS_STRING(cols[0]);
    int64_t *price = (int64_t *)PyBytes_AS_STRING(cols[1]);
    int64_t *seq = (int64_t *)PyBytes_AS_STRING(cols[2]);
    int64_t *hash = (int64_t *)PyBytes_AS_STRING(cols[3]);
    unsigned char *is_buy = (unsigned char *)PyBytes_AS_STRING(buy);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyList_GET_ITEM(list, i);
        if (Py_TYPE(o) != tp) goto plain;
        char *base = (char *)o;
        PyObject *id = *(PyObject **)(base + off[0]);
        PyObject *side = *(PyObject **)(base + off[1]);
        if (!id || !PyUnicode_CheckExact(id) || PyUnicode_GET_LENGTH(id) == 0) goto plain;
        if (!side || !PyUnicode_CheckExact(side)) goto plain;
        if (PyUnicode_CompareWithASCIIString(side, "buy") == 0) is_buy[i] = 1;
        else if (PyUnicode_CompareWithASCIIString(side, "sell") == 0) is_buy[i] = 0;
        else goto plain;
        if (int64_of(*(PyObject **)(base + off[2]), &qty[i]) < 0) goto plain;
        if (int64_of(*(PyObject **)(base + off[3]), &price[i]) < 0) goto plain;
        if (int64_of(*(PyObject **)(base + off[4]), &seq[i]) < 0) goto plain;
        Py_hash_t h = PyObject_Hash(id);
        if (h == -1) { PyErr_Clear(); goto plain; }
        hash[i] = (int64_t)h;
    }
    out = PyTuple_Pack(5, cols[0], cols[1], cols[2], cols[3], buy);
    goto done;
plain:
    out = Py_None;
    Py_INCREF(out);
    goto done;
fail:
    out = NULL;
done:
    for (int c = 0; c < 4; c++) Py_XDECREF(cols[c]);
    Py_XDECREF(buy);
    return out;
}


/* -- a result's fills block (edge/protocol/fills.py) ------------------------------------ */

/* The length of the id of ``o`` (an object of type ``tp``, its id slot at ``id_off``) if it
 * is a protocol Id ([A-Za-z0-9_.-]{1,32}, an exact str), else -1. */
static Py_ssize_t id_len_of(PyObject *o, PyTypeObject *tp, Py_ssize_t id_off) {
    if (Py_TYPE(o) != tp) return -1;
    PyObject *id = *(PyObject **)((char *)o + id_off);
    if (!id || !PyUnicode_CheckExact(id)) return -1;
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(id) < 0) { PyErr_Clear(); return -1; }  /* a legacy string (3.10) */
#endif
    if (!PyUnicode_IS_ASCII(id)) return -1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(id);
    if (n < 1 || n > 32) return -1;
    const unsigned char *p = (const unsigned char *)PyUnicode_DATA(id);
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return -1;
    }
    return n;
}

static void put_u32(unsigned char *w, uint32_t v) {
    w[0] = (unsigned char)v; w[1] = (unsigned char)(v >> 8);
    w[2] = (unsigned char)(v >> 16); w[3] = (unsigned char)(v >> 24);
}
static void put_u64(unsigned char *w, uint64_t v) {
    put_u32(w, (uint32_t)v);
    put_u32(w + 4, (uint32_t)(v >> 32));
}

#define MAX_FILLS 100000
#define LIMIT31 2147483647LL
#define MAX_SEQ ((1LL << 53) - 1)

/* fill_block(orders: list, order_type, traded: buffer of int64, code: buffer of int8)
 *   -> bytes or None
 *
 * A round result's fills block (layout in edge/protocol/fills.py) in one pass over the
 * cleared orders, written little-endian byte by byte (any host). None for anything outside
 * the plain cases (more than MAX_FILLS orders, an id that is not a protocol Id, a value out
 * of the protocol's range, a status that does not match the traded energy); the caller then
 * takes the reference encoder, which names the bad fill. No Python code runs between the
 * two passes (nothing is allocated but the result), and each id's room is checked again
 * where it is written. */
static PyObject *fill_block(PyObject *self, PyObject *args) {
    PyObject *list, *tpo, *out = NULL;
    Py_buffer tb = {0}, cb = {0};
    if (!PyArg_ParseTuple(args, "O!O!y*y*", &PyList_Type, &list, &PyType_Type, &tpo, &tb, &cb))
        return NULL;
    PyTypeObject *tp = (PyTypeObject *)tpo;
    Py_ssize_t n = PyList_GET_SIZE(list), off[NFIELDS];
    if (n > MAX_FILLS || offsets_of(tp, off) < 0 || tb.len != n * 8 || cb.len != n) goto plain;
    const Py_ssize_t fixed = 8 + (Py_ssize_t)n * 22;  /* n <= MAX_FILLS: no overflow */
    Py_ssize_t ids = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t k = id_len_of(PyList_GET_ITEM(list, i), tp, off[0]);
        if (k < 0) goto plain;
        ids += k + 1;  /* at most 33 * MAX_FILLS */
    }
    out = PyBytes_FromStringAndSize(NULL, fixed + ids);
    if (!out) goto done;
    unsigned char *b = (unsigned char *)PyBytes_AS_STRING(out);
    memcpy(b, "FIL1", 4);
    put_u32(b + 4, (uint32_t)n);
    unsigned char *seq_w = b + 8, *price_w = seq_w + 8 * n, *wh_w = price_w + 4 * n;
    unsigned char *qty_w = wh_w + 4 * n, *side_w = qty_w + 4 * n, *status_w = side_w + n;
    unsigned char *id_w = status_w + n, *end = b + fixed + ids;
    const char *traded = (const char *)tb.buf;  /* int64 each, read by memcpy: any alignment */
    const int8_t *code = (const int8_t *)cb.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyList_GET_ITEM(list, i);
        Py_ssize_t k = id_len_of(o, tp, off[0]);
        if (k < 0 || k + 1 > end - id_w) goto plain_out;
        char *base = (char *)o;
        PyObject *side = *(PyObject **)(base + off[1]);
        int64_t qty, price, seq, t;
        if (int64_of(*(PyObject **)(base + off[2]), &qty) < 0 ||
            int64_of(*(PyObject **)(base + off[3]), &price) < 0 ||
            int64_of(*(PyObject **)(base + off[4]), &seq) < 0)
            goto plain_out;
        memcpy(&t, traded + 8 * i, 8);
        int c = code[i];
        if (seq < 0 || seq > MAX_SEQ || price < 0 || price > LIMIT31 || qty < 1 ||
            qty > LIMIT31 || t < 0 || t > qty || c < 0 || c > 3 ||
            (c == 2) != (t == qty) || (c == 1) != (t > 0 && t < qty))
            goto plain_out;
        if (!side || !PyUnicode_CheckExact(side)) goto plain_out;
        if (PyUnicode_CompareWithASCIIString(side, "buy") == 0) side_w[i] = 0;
        else if (PyUnicode_CompareWithASCIIString(side, "sell") == 0) side_w[i] = 1;
        else goto plain_out;
        put_u64(seq_w + 8 * i, (uint64_t)seq);
        put_u32(price_w + 4 * i, (uint32_t)price);
        put_u32(wh_w + 4 * i, (uint32_t)qty);
        put_u32(qty_w + 4 * i, (uint32_t)t);
        status_w[i] = (unsigned char)c;
        memcpy(id_w, PyUnicode_DATA(*(PyObject **)(base + off[0])), (size_t)k);
        id_w += k;
        *id_w++ = '\n';
    }
    if (id_w != end) goto plain_out;
    goto done;
plain_out:
    Py_CLEAR(out);
plain:
    out = Py_None;
    Py_INCREF(out);
done:
    PyBuffer_Release(&tb);
    PyBuffer_Release(&cb);
    return out;
}

static PyMethodDef methods[] = {
    {"order_columns", order_columns, METH_VARARGS,
     "Columns (qty, price, seq, id hash, buy) of a list of Orders, or None if not plain."},
    {"fill_block", fill_block, METH_VARARGS,
     "A result's fills block (edge/protocol/fills.py) of a clearing, or None if not plain."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_columns",
                                    "Order objects to columns for the numpy clearing, fills to a result's block.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__columns(void) {
    return PyModule_Create(&module);
}
