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
 * ``result_fills`` is the other side of the same cost: a round's result message lists
 * every fill, and building 100,000 dicts, checking them and encoding them with the json
 * module cost about 15 clearings. It makes the dicts and their canonical bytes in one pass,
 * and again returns None for anything outside the plain cases (Python then builds both).
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


/* -- a result message's fills ------------------------------------------------------------ */

static PyObject *K_GW, *K_ORDER, *K_SIDE, *K_QTY, *K_STATUS, *K_PRICE, *K_SEQ, *K_ORDER_WH;

/* A str that canonical JSON writes as itself between quotes: printable ASCII without '"'
 * or '\\'. Anything else goes back to Python (json's own escaping). */
static int plain_ascii(PyObject *s) {
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0) { PyErr_Clear(); return 0; }  /* a legacy string (3.10) */
#endif
    if (!PyUnicode_IS_ASCII(s)) return 0;
    const unsigned char *p = (const unsigned char *)PyUnicode_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '"' || p[i] == '\\') return 0;
    return 1;
}

static char *put(char *w, const char *s) { size_t n = strlen(s); memcpy(w, s, n); return w + n; }
static char *put_i64(char *w, int64_t v) {
    char tmp[24];
    int k = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do { tmp[k++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *w++ = '-';
    while (k) *w++ = tmp[--k];
    return w;
}

/* The most bytes one fill's row takes: the fixed text with its side (85 at most, the book
 * form), six integers of at most 20 characters each (the order's interval and seq, four
 * more), the status and the id; -1 where that sum does not fit a Py_ssize_t (a 32-bit
 * board: the lengths are the caller's). */
static Py_ssize_t row_room(Py_ssize_t status_max, Py_ssize_t id_len) {
    const Py_ssize_t fixed = 100 + 6 * 21;
    if (status_max > PY_SSIZE_T_MAX - fixed || id_len > PY_SSIZE_T_MAX - fixed - status_max)
        return -1;
    return fixed + status_max + id_len;
}

/* The length of the id of ``o`` (an object of type ``tp``, its id slot at ``id_off``) if
 * canonical JSON writes it as itself, else -1. */
static Py_ssize_t plain_id_len(PyObject *o, PyTypeObject *tp, Py_ssize_t id_off) {
    if (Py_TYPE(o) != tp) return -1;
    PyObject *id = *(PyObject **)((char *)o + id_off);
    if (!id || !PyUnicode_CheckExact(id) || !plain_ascii(id)) return -1;
    return PyUnicode_GET_LENGTH(id);
}

/* result_fills(orders: list, order_type, traded: bytes (int64), code: bytes (int8),
 *              names: tuple of 4 str, interval: int, book: bool) -> (list[dict], bytes) or None
 *
 * The fills of a result message as dicts and, in the same pass, their canonical bytes (the
 * JSON list with keys sorted, no spaces). None for anything outside the plain cases (an id
 * that needs escaping, a value that is not an exact int, a status code out of range); the
 * caller then builds both in Python. */
static PyObject *result_fills(PyObject *self, PyObject *args) {
    PyObject *list, *tpo, *names, *interval_o;
    Py_buffer tb = {0}, cb = {0};
    int64_t interval;
    int book;
    if (!PyArg_ParseTuple(args, "O!O!y*y*O!Op", &PyList_Type, &list, &PyType_Type, &tpo, &tb,
                          &cb, &PyTuple_Type, &names, &interval_o, &book)) {
        PyBuffer_Release(&tb);
        PyBuffer_Release(&cb);
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)tpo;
    Py_ssize_t n = PyList_GET_SIZE(list), off[NFIELDS];
    PyObject *rows = NULL, *raw = NULL, *tmpl = NULL, *out = NULL;
    const char *status_txt[4];
    Py_ssize_t status_max = 0;
    if (offsets_of(tp, off) < 0 || tb.len / 8 != n || tb.len % 8 || cb.len != n ||
        PyTuple_GET_SIZE(names) != 4 || int64_of(interval_o, &interval) < 0)
        goto plain;
    for (int k = 0; k < 4; k++) {
        PyObject *s = PyTuple_GET_ITEM(names, k);
        if (!PyUnicode_CheckExact(s) || !plain_ascii(s)) goto plain;
        status_txt[k] = (const char *)PyUnicode_DATA(s);
        if (PyUnicode_GET_LENGTH(s) > status_max) status_max = PyUnicode_GET_LENGTH(s);
    }
    const char *traded = (const char *)tb.buf;  /* int64 each, read by memcpy: any alignment */
    const int8_t *code = (const int8_t *)cb.buf;
    /* the bytes' bound: '[', ']' and each row's room; a plain book or none before allocating */
    Py_ssize_t bound = 2;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t id_len = plain_id_len(PyList_GET_ITEM(list, i), tp, off[0]);
        if (id_len < 0) goto plain;
        Py_ssize_t room = row_room(status_max, id_len);
        if (room < 0 || room > PY_SSIZE_T_MAX - bound) { PyErr_NoMemory(); goto fail; }
        bound += room;
    }
    /* every row is a copy of a template with the same keys (a clone of its key table is
     * cheaper than inserting into a fresh dict), its values then replaced */
    if (!(tmpl = PyDict_New())) goto fail;
    PyObject *keys[8] = {K_ORDER, K_GW, K_SIDE, K_QTY, K_STATUS, K_PRICE, K_SEQ, K_ORDER_WH};
    for (int k = 0; k < (book ? 8 : 5); k++)
        if (PyDict_SetItem(tmpl, keys[k], Py_None) < 0) goto fail;
    if (!(rows = PyList_New(n))) goto fail;
    if (!(raw = PyBytes_FromStringAndSize(NULL, bound))) goto fail;
    char *w = PyBytes_AS_STRING(raw), *end = w + bound;
    char order_txt[48];
    *w++ = '[';
    for (Py_ssize_t i = 0; i < n; i++) {
        /* The dict first: making it can run the garbage collector and so any finalizer, which
         * could change the list or an order. Nothing after it runs Python code, so the order
         * is read, checked again and its room in the buffer checked here, not trusted from
         * the first pass. */
        PyObject *row = PyDict_Copy(tmpl);
        if (!row) goto fail;
        PyList_SET_ITEM(rows, i, row);
        if (i >= PyList_GET_SIZE(list)) goto plain;
        char *base = (char *)PyList_GET_ITEM(list, i);
        Py_ssize_t id_len = plain_id_len((PyObject *)base, tp, off[0]);
        if (id_len < 0) goto plain;
        Py_ssize_t room = row_room(status_max, id_len);
        if (room < 0 || room > end - w - 1) goto plain;  /* 1: the closing ']' */
        PyObject *id = *(PyObject **)(base + off[0]);
        PyObject *side = *(PyObject **)(base + off[1]);
        PyObject *qty_o = *(PyObject **)(base + off[2]);
        PyObject *price_o = *(PyObject **)(base + off[3]);
        PyObject *seq_o = *(PyObject **)(base + off[4]);
        int64_t qty, price, seq;
        if (int64_of(qty_o, &qty) < 0 || int64_of(price_o, &price) < 0 ||
            int64_of(seq_o, &seq) < 0)
            goto plain;
        if (!side || !PyUnicode_CheckExact(side)) goto plain;
        const char *side_txt;
        if (PyUnicode_CompareWithASCIIString(side, "buy") == 0) side_txt = "buy";
        else if (PyUnicode_CompareWithASCIIString(side, "sell") == 0) side_txt = "sell";
        else goto plain;
        int c = code[i];
        if (c < 0 || c > 3) goto plain;
        char *e = put_i64(order_txt, interval);
        *e++ = '-';
        int len = (int)(put_i64(e, seq) - order_txt);
        int64_t t;
        memcpy(&t, traded + 8 * i, 8);
        PyObject *order = PyUnicode_FromStringAndSize(order_txt, len);
        PyObject *q = PyLong_FromLongLong(t);
        int bad = !order || !q || PyDict_SetItem(row, K_ORDER, order) < 0 ||
                  PyDict_SetItem(row, K_GW, id) < 0 || PyDict_SetItem(row, K_SIDE, side) < 0 ||
                  PyDict_SetItem(row, K_QTY, q) < 0 ||
                  PyDict_SetItem(row, K_STATUS, PyTuple_GET_ITEM(names, c)) < 0;
        Py_XDECREF(order);
        Py_XDECREF(q);
        if (bad) goto fail;
        if (book && (PyDict_SetItem(row, K_PRICE, price_o) < 0 ||
                     PyDict_SetItem(row, K_SEQ, seq_o) < 0 ||
                     PyDict_SetItem(row, K_ORDER_WH, qty_o) < 0))
            goto fail;
        if (i) *w++ = ',';
        w = put(w, "{\"gw\":\"");
        memcpy(w, PyUnicode_DATA(id), PyUnicode_GET_LENGTH(id));
        w += PyUnicode_GET_LENGTH(id);
        w = put(w, "\",\"order\":\"");
        memcpy(w, order_txt, len);
        w += len;
        if (book) {
            w = put(w, "\",\"order_wh\":");
            w = put_i64(w, qty);
            w = put(w, ",\"price\":");
            w = put_i64(w, price);
            w = put(w, ",\"qty_wh\":");
            w = put_i64(w, t);
            w = put(w, ",\"seq\":");
            w = put_i64(w, seq);
        } else {
            w = put(w, "\",\"qty_wh\":");
            w = put_i64(w, t);
        }
        w = put(w, ",\"side\":\"");
        w = put(w, side_txt);
        w = put(w, "\",\"status\":\"");
        w = put(w, status_txt[c]);
        w = put(w, "\"}");
    }
    *w++ = ']';
    if (_PyBytes_Resize(&raw, w - PyBytes_AS_STRING(raw)) < 0) goto fail;
    out = PyTuple_Pack(2, rows, raw);
    goto done;
plain:
    out = Py_None;
    Py_INCREF(out);
    goto done;
fail:
    out = NULL;
done:
    Py_XDECREF(tmpl);
    Py_XDECREF(rows);
    Py_XDECREF(raw);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&cb);
    return out;
}

static PyMethodDef methods[] = {
    {"order_columns", order_columns, METH_VARARGS,
     "Columns (qty, price, seq, id hash, buy) of a list of Orders, or None if not plain."},
    {"result_fills", result_fills, METH_VARARGS,
     "A result's fills as dicts and as canonical JSON bytes, or None if not plain."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_columns",
                                    "Order objects to columns for the numpy clearing, fills to result rows.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__columns(void) {
    K_GW = PyUnicode_InternFromString("gw");
    K_ORDER = PyUnicode_InternFromString("order");
    K_SIDE = PyUnicode_InternFromString("side");
    K_QTY = PyUnicode_InternFromString("qty_wh");
    K_STATUS = PyUnicode_InternFromString("status");
    K_PRICE = PyUnicode_InternFromString("price");
    K_SEQ = PyUnicode_InternFromString("seq");
    K_ORDER_WH = PyUnicode_InternFromString("order_wh");
    if (!K_GW || !K_ORDER || !K_SIDE || !K_QTY || !K_STATUS || !K_PRICE || !K_SEQ || !K_ORDER_WH)
        return NULL;
    return PyModule_Create(&module);
}
