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
 * The same pass writes the id column of a round result's fills block (edge/protocol/fills.py,
 * each id followed by a newline), so the round's result is made from these columns without
 * a second pass over the orders (edge/market/fillblock.py).
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

/* Is p[0..n) a protocol Id ([A-Za-z0-9_.-]{1,32})? */
static int is_id(const unsigned char *p, Py_ssize_t n) {
    if (n < 1 || n > 32) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* order_columns(orders: list, order_type) ->
 *   (qty, price, seq, id_hash: bytes of int64 each, buy: bytes of uint8,
 *    ids: bytes of each id followed by a newline, or None where an id is not a protocol Id)
 *   or None
 *
 * The id column is the fills block's (edge/protocol/fills.py): written in this pass, the
 * round's result needs no second pass over the orders. */
static PyObject *order_columns(PyObject *self, PyObject *args) {
    PyObject *list, *tpo;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &list, &PyType_Type, &tpo)) return NULL;
    PyTypeObject *tp = (PyTypeObject *)tpo;
    Py_ssize_t off[NFIELDS];
    if (offsets_of(tp, off) < 0) Py_RETURN_NONE;
    Py_ssize_t n = PyList_GET_SIZE(list);
    if (n > PY_SSIZE_T_MAX / 33) return PyErr_NoMemory();  /* n * 33 below: a 32-bit board */
    PyObject *cols[4] = {NULL, NULL, NULL, NULL}, *buy = NULL, *ids = NULL, *out = NULL;
    for (int c = 0; c < 4; c++)
        if (!(cols[c] = PyBytes_FromStringAndSize(NULL, n * 8))) goto fail;
    if (!(buy = PyBytes_FromStringAndSize(NULL, n))) goto fail;
    if (!(ids = PyBytes_FromStringAndSize(NULL, n * 33))) goto fail;  /* 32 + newline each */
    int64_t *qty = (int64_t *)PyBytes_AS_STRING(cols[0]);
    int64_t *price = (int64_t *)PyBytes_AS_STRING(cols[1]);
    int64_t *seq = (int64_t *)PyBytes_AS_STRING(cols[2]);
    int64_t *hash = (int64_t *)PyBytes_AS_STRING(cols[3]);
    unsigned char *is_buy = (unsigned char *)PyBytes_AS_STRING(buy);
    char *id_w = PyBytes_AS_STRING(ids);
    int ids_ok = 1;
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
        if (ids_ok) {
#if PY_VERSION_HEX < 0x030C0000
            if (PyUnicode_READY(id) < 0) { PyErr_Clear(); goto plain; }  /* legacy (3.10) */
#endif
            Py_ssize_t k = PyUnicode_GET_LENGTH(id);
            if (PyUnicode_IS_ASCII(id) && is_id((const unsigned char *)PyUnicode_DATA(id), k)) {
                memcpy(id_w, PyUnicode_DATA(id), (size_t)k);  /* k <= 32: room by the n * 33 */
                id_w += k;
                *id_w++ = '\n';
            } else {
                ids_ok = 0;
            }
        }
    }
    if (ids_ok) {
        if (_PyBytes_Resize(&ids, id_w - PyBytes_AS_STRING(ids)) < 0) goto fail;
    } else {
        Py_DECREF(ids);
        ids = Py_None;
        Py_INCREF(ids);
    }
    out = PyTuple_Pack(6, cols[0], cols[1], cols[2], cols[3], buy, ids);
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
    Py_XDECREF(ids);
    return out;
}


static PyMethodDef methods[] = {
    {"order_columns", order_columns, METH_VARARGS,
     "Columns (qty, price, seq, id hash, buy, ids) of a list of Orders, or None if not plain."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_columns",
                                    "Order objects to columns for the numpy clearing and a result's fills block.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__columns(void) {
    return PyModule_Create(&module);
}
