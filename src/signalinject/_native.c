/* Fused one-pass kernels for uint8 image batches: the dense signals' hot loops.
 *
 * NumPy has no saturating or fixed-point uint8 arithmetic, so there the exact results take three
 * to five passes over each block of samples (signalinject._kernels). Each kernel here reads every
 * byte once and writes it once, with the same integer arithmetic and so the same bits. The
 * per-class tables are int8/uint8, so all of them (33 KiB for 10 CIFAR classes) stay in a core's
 * L1 cache while the samples of the classes come in any order: with wider tables the loops wait
 * on the L2 cache, and run at ~0.7x of a copy instead of ~0.9x (measured on an AMD EPYC).
 *
 * Both take C-contiguous buffers (the caller checks the layout and falls back to NumPy
 * otherwise), check every size and row index before writing, and release the GIL while they
 * run. ``out`` may be ``src`` itself (in place): every element is read before it is written.
 * On x86-64 with GCC or clang the loops run on AVX2 where the CPU has it (checked once, at
 * import); elsewhere the portable C loops, which the compiler vectorizes as it can.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX2_PATH 1
#include <immintrin.h>
static int use_avx2 = 0;
#else
#define HAVE_AVX2_PATH 0
#endif

/* -- the loops ------------------------------------------------------------------------------- */

/* One sample: out = clip(...clip(x + t[0]) ... + t[parts - 1], 0, 255); the parts of an element
 * share its sign, so the chain equals the single saturated sum. */
static void add_row(uint8_t *o, const uint8_t *x, const int8_t *t, size_t parts, size_t stride,
                    size_t d) {
    for (size_t j = 0; j < d; j++) {
        int v = x[j];
        for (size_t p = 0; p < parts; p++) {
            v += t[p * stride + j];
            v = v < 0 ? 0 : (v > 255 ? 255 : v);
        }
        o[j] = (uint8_t)v;
    }
}

/* One sample: out = (x * w + p * (256 - w) + 128) >> 8, exact in 16 bits (at most 65,408). */
static void blend_row(uint8_t *o, const uint8_t *x, const uint8_t *p, unsigned w, size_t d) {
    const unsigned a = 256u - w;
    for (size_t j = 0; j < d; j++) o[j] = (uint8_t)((x[j] * w + p[j] * a + 128u) >> 8);
}

#if HAVE_AVX2_PATH
/* Signed saturation does the clipping: x ^ 0x80 is x - 128 as int8, adds_epi8 saturates the sum
 * to [-128, 127], and ^ 0x80 maps it back to [0, 255]. */
__attribute__((target("avx2"))) static void add_row_avx2(uint8_t *o, const uint8_t *x,
                                                         const int8_t *t, size_t parts,
                                                         size_t stride, size_t d) {
    const __m256i s = _mm256_set1_epi8((char)0x80);
    size_t j = 0;
    for (; j + 32 <= d; j += 32) {
        __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + j)), s);
        for (size_t p = 0; p < parts; p++)
            v = _mm256_adds_epi8(v, _mm256_loadu_si256((const __m256i *)(t + p * stride + j)));
        _mm256_storeu_si256((__m256i *)(o + j), _mm256_xor_si256(v, s));
    }
    add_row(o + j, x + j, t + j, parts, stride, d - j);
}

/* x * w + p * (256 - w) = 256 * x + (p - x) * a with a = 256 - w, so the blend is
 * x + floor(((p - x) * a + 128) / 256), which mulhrs computes exactly from (p - x) and a << 7:
 * ((p - x) * (a << 7) + 2**14) >> 15 (|p - x| <= 255 and a << 7 <= 32,640 fit int16). */
__attribute__((target("avx2"))) static inline __m256i blend16(const uint8_t *x, const uint8_t *p,
                                                               __m256i a7) {
    __m256i xs = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)x));
    __m256i ps = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p));
    return _mm256_add_epi16(xs, _mm256_mulhrs_epi16(_mm256_sub_epi16(ps, xs), a7));
}

__attribute__((target("avx2"))) static void blend_row_avx2(uint8_t *o, const uint8_t *x,
                                                           const uint8_t *p, unsigned w,
                                                           size_t d) {
    const __m256i a7 = _mm256_set1_epi16((short)((256u - w) << 7));
    size_t j = 0;
    for (; j + 32 <= d; j += 32) {
        __m256i lo = blend16(x + j, p + j, a7), hi = blend16(x + j + 16, p + j + 16, a7);
        /* packus interleaves the two 128-bit lanes; the permute puts them back in order. */
        __m256i v = _mm256_permute4x64_epi64(_mm256_packus_epi16(lo, hi), 0xD8);
        _mm256_storeu_si256((__m256i *)(o + j), v);
    }
    blend_row(o + j, x + j, p + j, w, d - j);
}
#endif

/* -- argument checks ------------------------------------------------------------------------- */

static void release(Py_buffer *bufs, int k) {
    for (int i = 0; i < k; i++) PyBuffer_Release(&bufs[i]);
}

/* out and src hold whole samples of d bytes, the same number; rows one int64 per sample, each a
 * row of a table of nrows rows. Sets *n, the number of samples. */
static int check_batch(Py_buffer *out, Py_buffer *src, Py_buffer *rows, Py_ssize_t d,
                       Py_ssize_t nrows, Py_ssize_t *n) {
    if (d <= 0) {
        PyErr_Format(PyExc_ValueError, "sample size d must be >= 1, got %zd", d);
        return -1;
    }
    if (out->len % d != 0 || src->len != out->len) {
        PyErr_Format(PyExc_ValueError,
                     "out (%zd bytes) and src (%zd bytes) must both hold whole samples of %zd",
                     out->len, src->len, d);
        return -1;
    }
    *n = out->len / d;
    if (rows->len != *n * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_Format(PyExc_ValueError, "rows must hold %zd int64 (%zd bytes), got %zd bytes", *n,
                     *n * (Py_ssize_t)sizeof(int64_t), rows->len);
        return -1;
    }
    const int64_t *r = (const int64_t *)rows->buf;
    for (Py_ssize_t i = 0; i < *n; i++) {
        if (r[i] < 0 || r[i] >= nrows) {
            PyErr_Format(PyExc_IndexError, "rows[%zd] = %lld is outside the table's %zd rows", i,
                         (long long)r[i], nrows);
            return -1;
        }
    }
    return 0;
}

/* -- the functions --------------------------------------------------------------------------- */

static PyObject *add_rows_u8(PyObject *self, PyObject *args) {
    Py_buffer b[4];
    Py_ssize_t d, parts, n;
    if (!PyArg_ParseTuple(args, "w*y*y*y*nn", &b[0], &b[1], &b[2], &b[3], &d, &parts)) return NULL;
    if (parts < 1 || d < 1 || b[3].len % (parts * d) != 0) {
        PyErr_Format(PyExc_ValueError,
                     "table (%zd bytes) must hold parts (%zd >= 1) x rows x d (%zd >= 1) int8",
                     b[3].len, parts, d);
        release(b, 4);
        return NULL;
    }
    const Py_ssize_t nrows = b[3].len / (parts * d);
    if (check_batch(&b[0], &b[1], &b[2], d, nrows, &n)) {
        release(b, 4);
        return NULL;
    }
    uint8_t *out = (uint8_t *)b[0].buf;
    const uint8_t *src = (const uint8_t *)b[1].buf;
    const int64_t *rows = (const int64_t *)b[2].buf;
    const int8_t *table = (const int8_t *)b[3].buf;
    const size_t dd = (size_t)d, pp = (size_t)parts, stride = (size_t)nrows * dd;
    Py_BEGIN_ALLOW_THREADS
    for (size_t i = 0; i < (size_t)n; i++) {
        const int8_t *t = table + (size_t)rows[i] * dd;
#if HAVE_AVX2_PATH
        if (use_avx2) {
            add_row_avx2(out + i * dd, src + i * dd, t, pp, stride, dd);
            continue;
        }
#endif
        add_row(out + i * dd, src + i * dd, t, pp, stride, dd);
    }
    Py_END_ALLOW_THREADS
    release(b, 4);
    Py_RETURN_NONE;
}

static PyObject *blend_rows_u8(PyObject *self, PyObject *args) {
    Py_buffer b[4];
    Py_ssize_t d, n;
    int weight;
    if (!PyArg_ParseTuple(args, "w*y*y*y*ni", &b[0], &b[1], &b[2], &b[3], &d, &weight))
        return NULL;
    if (weight < 1 || weight > 255 || d < 1 || b[3].len % d != 0) {
        PyErr_Format(PyExc_ValueError,
                     "weight must be in 1..255 (got %d) and the pattern (%zd bytes) whole rows of "
                     "d (%zd >= 1) uint8",
                     weight, b[3].len, d);
        release(b, 4);
        return NULL;
    }
    if (check_batch(&b[0], &b[1], &b[2], d, b[3].len / d, &n)) {
        release(b, 4);
        return NULL;
    }
    uint8_t *out = (uint8_t *)b[0].buf;
    const uint8_t *src = (const uint8_t *)b[1].buf;
    const int64_t *rows = (const int64_t *)b[2].buf;
    const uint8_t *pattern = (const uint8_t *)b[3].buf;
    const size_t dd = (size_t)d;
    const unsigned w = (unsigned)weight;
    Py_BEGIN_ALLOW_THREADS
    for (size_t i = 0; i < (size_t)n; i++) {
        const uint8_t *p = pattern + (size_t)rows[i] * dd;
#if HAVE_AVX2_PATH
        if (use_avx2) {
            blend_row_avx2(out + i * dd, src + i * dd, p, w, dd);
            continue;
        }
#endif
        blend_row(out + i * dd, src + i * dd, p, w, dd);
    }
    Py_END_ALLOW_THREADS
    release(b, 4);
    Py_RETURN_NONE;
}

static PyObject *simd(PyObject *self, PyObject *args) {
#if HAVE_AVX2_PATH
    if (use_avx2) return PyUnicode_FromString("avx2");
#endif
    return PyUnicode_FromString("portable");
}

static PyMethodDef methods[] = {
    {"add_rows_u8", add_rows_u8, METH_VARARGS,
     "add_rows_u8(out, src, rows, table, d, parts): out = clip(src + sum of the parts of "
     "table[rows]), uint8, the int8 table (parts, rows, d)."},
    {"blend_rows_u8", blend_rows_u8, METH_VARARGS,
     "blend_rows_u8(out, src, rows, pattern, d, weight): out = (src * weight + "
     "pattern[rows] * (256 - weight) + 128) >> 8, uint8."},
    {"simd", simd, METH_NOARGS, "simd(): the instruction set the loops run on."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "signalinject._native",
    "Fused one-pass kernels for uint8 image batches (optional: the NumPy kernels give the same "
    "bits).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__native(void) {
#if HAVE_AVX2_PATH
    __builtin_cpu_init();
    use_avx2 = __builtin_cpu_supports("avx2");
#endif
    return PyModule_Create(&module);
}
