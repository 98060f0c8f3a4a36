/* The prefix walk of hub/allocation/walk.py, one ordering at a time, in C.
 *
 * Why C: the numpy walk advances all orderings of a round together, but each
 * step costs a few numpy passes over an (orderings x units) array, so a round
 * of the 10 x 100 game (1,000 orderings of 1,000 players) is O(n^3) element
 * work plus a Python loop of 1,000 steps per batch. Here each ordering keeps
 * its merit curves as flexible volumes by global rank (the ranks MarketWalk
 * computes once), an insertion is one write, and the cleared volume Y and
 * the emissions of the prefix follow from one merge-scan: generator ranks
 * ascending against the load volume bidding at least each offer, which stops
 * at the marginal block. The closed form (minimums, relaxation, the shift D
 * and the floor F) is the one derived in walk.py's docstring; integers only
 * (int64: MarketWalk.applies bounds the emissions below 2^62).
 *
 * It only reads the model arrays and writes `out`; an ordering with a player
 * out of range or repeated raises ValueError. Built at install time
 * (setup.py, optional); where it is missing the numpy walk runs instead.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The market, by player (p) and by generator rank (j), as MarketWalk holds it. */
typedef struct {
    Py_ssize_t n, ng, nl;
    const int64_t *is_gen, *rank, *qmin, *qmax; /* by player */
    const int64_t *gi, *cnt;                            /* by generator rank */
} Model;

/* Per-ordering state: volumes by rank, flexible (qmax - qmin) and whole (qmax). */
typedef struct {
    int64_t *gf, *gx, *lf, *lx;
    unsigned char *seen;
} Curves;

/* Where the last scan of one pair of curves stopped, kept from step to step: the
 * generator rank j it stopped at, the volume c and emissions e of the generator
 * ranks below j, and the volume lc of the load ranks below lr. An insertion below
 * a pointer adds to its sum, so the next step starts from the last marginal block
 * and moves only as far as the margin moved. */
typedef struct {
    Py_ssize_t j, lr;
    int64_t c, e, lc;
} Scan;

static inline void move_loads(Scan *s, const int64_t *l, Py_ssize_t want) {
    while (s->lr > want) s->lc -= l[--s->lr];
    while (s->lr < want) s->lc += l[s->lr++];
}

/* Emissions (mg) of the flexible blocks g against the load volumes l: walk.py's
 * Y = min(gtot, max(C_j, L(p_j) - D, F)) at the first block j with s_j > 0 and
 * L(p_j) - D < C_j + s_j. That test is monotone over the blocks (C rises, L
 * falls), so the blocks that pass it are a suffix: the scan steps back while the
 * previous block passes, then forward to the first block that passes. */
static int64_t flexible_emissions(const Model *m, Scan *s, const int64_t *g, const int64_t *l,
                                  int64_t gtot, int64_t shift, int64_t floor_) {
    const int64_t *gi = m->gi, *cnt = m->cnt;
    Py_ssize_t ng = m->ng;
    for (;;) {
        Py_ssize_t p = s->j - 1;
        while (p >= 0 && !g[p]) p--;
        if (p < 0) break;
        move_loads(s, l, (Py_ssize_t)cnt[p]);
        if (!(s->lc - shift < s->c)) break; /* block p ends at s->c: it does not pass */
        s->c -= g[p];
        s->e -= g[p] * gi[p];
        s->j = p;
    }
    int64_t y = 0;
    int found = 0;
    for (; s->j < ng; s->j++) {
        int64_t v = g[s->j];
        if (!v) continue;
        move_loads(s, l, (Py_ssize_t)cnt[s->j]);
        int64_t reach = s->lc - shift;
        if (reach < s->c + v) {
            y = s->c;
            if (reach > y) y = reach;
            if (floor_ > y) y = floor_;
            found = 1;
            break;
        }
        s->c += v;
        s->e += v * gi[s->j];
    }
    if (!found) return s->e; /* loads never run out first: every block clears whole */
    if (y > gtot) y = gtot;
    int64_t c = s->c, e = s->e;
    for (Py_ssize_t j = s->j; j < ng && c < y; j++) {
        int64_t v = g[j];
        if (!v) continue;
        e += (y - c < v ? y - c : v) * gi[j];
        c += v;
    }
    return e;
}

/* v of every prefix of one ordering: out[0..steps]. -1 on a bad player (out of range, repeated). */
static int walk_row(const Model *m, Curves *w, const int64_t *ord, Py_ssize_t steps,
                    int64_t *out) {
    memset(w->gf, 0, (size_t)m->ng * sizeof(int64_t));
    memset(w->gx, 0, (size_t)m->ng * sizeof(int64_t));
    memset(w->lf, 0, (size_t)m->nl * sizeof(int64_t));
    memset(w->lx, 0, (size_t)m->nl * sizeof(int64_t));
    memset(w->seen, 0, (size_t)m->n);
    Scan flex = {0, 0, 0, 0, 0}, whole = {0, 0, 0, 0, 0};
    int64_t gmin = 0, lmin = 0, gmax = 0, lmax = 0, emin = 0, gftot = 0, gxtot = 0;
    out[0] = 0;
    for (Py_ssize_t k = 0; k < steps; k++) {
        int64_t p = ord[k];
        if (p < 0 || p >= m->n || w->seen[p]) return -1;
        w->seen[p] = 1;
        Py_ssize_t r = (Py_ssize_t)m->rank[p];
        int64_t qn = m->qmin[p], qx = m->qmax[p];
        if (m->is_gen[p]) {
            int64_t gi = m->gi[r];
            w->gf[r] = qx - qn;
            w->gx[r] = qx;
            if (r < flex.j) { flex.c += qx - qn; flex.e += (qx - qn) * gi; }
            if (r < whole.j) { whole.c += qx; whole.e += qx * gi; }
            gmin += qn;
            gmax += qx;
            emin += qn * gi;
            gftot += qx - qn;
            gxtot += qx;
        } else {
            w->lf[r] = qx - qn;
            w->lx[r] = qx;
            if (r < flex.lr) flex.lc += qx - qn;
            if (r < whole.lr) whole.lc += qx;
            lmin += qn;
            lmax += qx;
        }
        /* clearing-spec step 1: relaxed, the minimums count as 0 and blocks are whole */
        if (gmin > lmax || lmin > gmax)
            out[k + 1] = flexible_emissions(m, &whole, w->gx, w->lx, gxtot, 0, 0);
        else
            out[k + 1] = emin + flexible_emissions(m, &flex, w->gf, w->lf, gftot, gmin - lmin,
                                                   lmin > gmin ? lmin - gmin : 0);
    }
    return 0;
}

/* Whether v holds rows x cols int64 values. The sizes come from the caller and
 * are checked by division against the buffer's real length, never multiplied:
 * a product that wraps could pass for a small buffer and let the walk write past it. */
static int as_int64(Py_buffer *v, Py_ssize_t rows, Py_ssize_t cols, const char *name) {
    Py_ssize_t have = v->len / 8;
    int ok = v->itemsize == 8 && v->len % 8 == 0 &&
             (cols == 0 || rows == 0 ? have == 0 : have % cols == 0 && have / cols == rows);
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "%s: need %zd x %zd int64 values", name, rows, cols);
        return -1;
    }
    return 0;
}

/* prefix_values(orders, b, steps, is_gen, rank, qmin, qmax, gi, cnt, ng, nl, out) */
static PyObject *prefix_values(PyObject *self, PyObject *args) {
    Py_buffer ob, isg, rk, qn, qx, gib, cb, outb;
    Py_ssize_t b, steps, ng, nl;
    if (!PyArg_ParseTuple(args, "y*nny*y*y*y*y*y*nnw*", &ob, &b, &steps, &isg, &rk, &qn,
                          &qx, &gib, &cb, &ng, &nl, &outb))
        return NULL;
    PyObject *ret = NULL;
    Curves w = {NULL, NULL, NULL, NULL, NULL};
    int bad = 0;
    Py_ssize_t n = 0;
    if (b < 0 || steps < 0 || ng < 0 || nl < 0 || steps == PY_SSIZE_T_MAX ||
        ng > PY_SSIZE_T_MAX - nl) {
        PyErr_SetString(PyExc_ValueError, "sizes must be >= 0 (and ng + nl, steps + 1 in range)");
        goto done;
    }
    n = ng + nl;
    if (as_int64(&ob, b, steps, "orders") || as_int64(&isg, n, 1, "is_gen") ||
        as_int64(&rk, n, 1, "rank") || as_int64(&qn, n, 1, "qmin") ||
        as_int64(&qx, n, 1, "qmax") || as_int64(&gib, ng, 1, "gi") ||
        as_int64(&cb, ng, 1, "cnt") || as_int64(&outb, b, steps + 1, "out"))
        goto done;
    Model m = {n, ng, nl, isg.buf, rk.buf, qn.buf, qx.buf, gib.buf, cb.buf};
    /* ranks and counts index the curves: check them once, not per step */
    for (Py_ssize_t p = 0; p < n; p++) {
        Py_ssize_t side = m.is_gen[p] ? ng : nl;
        if (m.rank[p] < 0 || m.rank[p] >= side) bad = 1;
    }
    for (Py_ssize_t j = 0; j < ng; j++)
        if (m.cnt[j] < 0 || m.cnt[j] > nl) bad = 1;
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "rank or cnt out of range");
        goto done;
    }
    w.gf = calloc((size_t)ng + 1, sizeof(int64_t));
    w.gx = calloc((size_t)ng + 1, sizeof(int64_t));
    w.lf = calloc((size_t)nl + 1, sizeof(int64_t));
    w.lx = calloc((size_t)nl + 1, sizeof(int64_t));
    w.seen = calloc((size_t)n + 1, 1);
    if (!w.gf || !w.gx || !w.lf || !w.lx || !w.seen) {
        PyErr_NoMemory();
        goto done;
    }
    const int64_t *ord = ob.buf;
    int64_t *out = outb.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < b && !bad; i++)
        bad = walk_row(&m, &w, ord + i * steps, steps, out + i * (steps + 1)) < 0;
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "orders: a player out of range or repeated in a row");
        goto done;
    }
    ret = Py_None;
    Py_INCREF(ret);
done:
    free(w.gf);
    free(w.gx);
    free(w.lf);
    free(w.lx);
    free(w.seen);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&isg);
    PyBuffer_Release(&rk);
    PyBuffer_Release(&qn);
    PyBuffer_Release(&qx);
    PyBuffer_Release(&gib);
    PyBuffer_Release(&cb);
    PyBuffer_Release(&outb);
    return ret;
}

static PyMethodDef methods[] = {
    {"prefix_values", prefix_values, METH_VARARGS,
     "v of every prefix of every ordering (int64, row-major) into out; see walk.py."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_walk",
                                    "The market game's prefix walk, one ordering at a time.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }
