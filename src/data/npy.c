/*
 * NumPy .npy arrays (format versions 1.0, 2.0 and 3.0): the magic
 * "\x93NUMPY", a version, a little-endian header length (2 bytes in 1.0, 4
 * bytes later), a Python dict literal {'descr': '<f4', 'fortran_order': False,
 * 'shape': (N, H, W), } and the raw C-order data.
 *
 * Images: uint8, float32 or float64 (stored as float32), shaped N x H x W,
 * N x C x H x W or N x H x W x C (taken as HWC when the last dim is 1 or 3 and
 * dim 1 is not; converted to NCHW).  Labels: any integer type, shaped N or
 * N x 1.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dfile.h"
#include "data/formats.h"

#define NPY_MAX_DIMS 8
/* numpy writes headers of a few hundred bytes; anything huge is garbage. */
#define NPY_MAX_HEADER (1u << 20)

typedef struct npy_array {
    char descr[32];  /* as written, for messages             */
    char kind;       /* 'u', 'i', 'f' or 'b'                  */
    int itemsize;    /* bytes per element                     */
    int big_endian;  /* data needs byte-swapping on read      */
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    uint64_t count;  /* product of shape                      */
} npy_array;

/* A cursor over the header text for the small dict-literal parser. */
typedef struct npy_cursor {
    const char *s, *end;
} npy_cursor;

/* Moves past blanks (numpy pads the header with spaces and ends it with a newline). */
static void skip_space(npy_cursor *c)
{
    while (c->s < c->end && isspace((unsigned char)*c->s))
        c->s++;
}

/* Consumes ch (after blanks); returns 1 when it was there. */
static int accept(npy_cursor *c, char ch)
{
    skip_space(c);
    if (c->s < c->end && *c->s == ch) {
        c->s++;
        return 1;
    }
    return 0;
}

/* Reads a '...' or "..." literal into buf (truncating to size); returns 1 on success. */
static int read_string(npy_cursor *c, char *buf, size_t size)
{
    skip_space(c);
    if (c->s >= c->end || (*c->s != '\'' && *c->s != '"'))
        return 0;
    char q = *c->s++;
    size_t n = 0;
    while (c->s < c->end && *c->s != q) {
        if (n + 1 < size)
            buf[n++] = *c->s;
        c->s++;
    }
    if (c->s >= c->end)
        return 0;
    c->s++;
    buf[n] = '\0';
    return 1;
}

/* Parses a descr like '<f4', '|u1', '>i8' into a. */
static int parse_descr(const char *d, npy_array *a)
{
    const char *p = d;
    a->big_endian = 0;
    if (*p == '<' || *p == '|' || *p == '=')
        p++;
    else if (*p == '>') {
        a->big_endian = 1;
        p++;
    }
    if (*p != 'u' && *p != 'i' && *p != 'f' && *p != 'b')
        return 0;
    a->kind = *p++;
    if (!isdigit((unsigned char)*p))
        return 0;
    char *endp;
    long sz = strtol(p, &endp, 10);
    if (*endp || (sz != 1 && sz != 2 && sz != 4 && sz != 8))
        return 0;
    a->itemsize = (int)sz;
    if (a->itemsize == 1)
        a->big_endian = 0;
    return 1;
}

/* Parses "(256, 28, 28)" (also "(256,)" and "()") into a->shape. */
static int parse_shape(npy_cursor *c, npy_array *a)
{
    a->ndim = 0;
    if (!accept(c, '('))
        return 0;
    for (;;) {
        skip_space(c);
        if (accept(c, ')'))
            return 1;
        if (c->s >= c->end || !isdigit((unsigned char)*c->s) || a->ndim == NPY_MAX_DIMS)
            return 0;
        int64_t v = 0;
        while (c->s < c->end && isdigit((unsigned char)*c->s)) {
            if (v > (INT64_MAX - 9) / 10)
                return 0;
            v = v * 10 + (*c->s++ - '0');
        }
        a->shape[a->ndim++] = v;
        if (!accept(c, ',')) {
            return accept(c, ')');
        }
    }
}

/*
 * Parses the header dict.  Only the three keys numpy writes are allowed;
 * fortran_order must be False because a transposed layout would silently
 * scramble the images.
 */
static nad_status parse_header(const char *path, const char *text, size_t len, npy_array *a, nad_err *e)
{
    npy_cursor c = {text, text + len};
    int have_descr = 0, have_order = 0, have_shape = 0;

    if (!accept(&c, '{'))
        return nad_errf(e, NAD_EFORMAT, "%s: .npy header is not a dict", path);
    while (!accept(&c, '}')) {
        char key[32];
        if (!read_string(&c, key, sizeof key) || !accept(&c, ':'))
            return nad_errf(e, NAD_EFORMAT, "%s: malformed .npy header", path);
        if (strcmp(key, "descr") == 0) {
            npy_cursor at = c; /* a list here is a structured dtype; anything else is damage */
            skip_space(&at);
            if (!read_string(&c, a->descr, sizeof a->descr))
                return at.s < at.end && *at.s == '['
                           ? nad_errf(e, NAD_EUNSUPPORTED, "%s: structured .npy dtypes are not supported", path)
                           : nad_errf(e, NAD_EFORMAT, "%s: malformed or cut-off .npy header (dtype)", path);
            if (!parse_descr(a->descr, a))
                return nad_errf(e, NAD_EUNSUPPORTED, "%s: unsupported .npy dtype '%s'", path, a->descr);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            skip_space(&c);
            if ((size_t)(c.end - c.s) >= 5 && strncmp(c.s, "False", 5) == 0) {
                c.s += 5;
            } else if ((size_t)(c.end - c.s) >= 4 && strncmp(c.s, "True", 4) == 0) {
                return nad_errf(e, NAD_EUNSUPPORTED, "%s: fortran_order arrays are not supported (save C order)",
                                path);
            } else {
                return nad_errf(e, NAD_EFORMAT, "%s: malformed fortran_order in .npy header", path);
            }
            have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (!parse_shape(&c, a))
                return nad_errf(e, NAD_EFORMAT, "%s: malformed shape in .npy header", path);
            have_shape = 1;
        } else {
            return nad_errf(e, NAD_EFORMAT, "%s: unexpected key '%s' in .npy header", path, key);
        }
        if (!accept(&c, ',')) {
            if (!accept(&c, '}'))
                return nad_errf(e, NAD_EFORMAT, "%s: malformed .npy header", path);
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        return nad_errf(e, NAD_EFORMAT, "%s: .npy header lacks '%s'", path,
                        !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    a->count = 1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] != 0 && a->count > NAD_MAX_DATASET_BYTES / (uint64_t)a->shape[i])
            return nad_errf(e, NAD_EFORMAT, "%s: absurd .npy shape", path);
        a->count *= (uint64_t)a->shape[i];
    }
    if (a->count > NAD_MAX_DATASET_BYTES / (uint64_t)a->itemsize)
        return nad_errf(e, NAD_EFORMAT, "%s: absurd .npy shape", path);
    return NAD_OK;
}

/* Opens path and reads the preamble and header into a; f is left at the data. */
static nad_status open_npy(nad_dfile *f, const char *path, npy_array *a, nad_err *e)
{
    nad_status rc;
    uint8_t pre[12];
    char *text = NULL;

    memset(a, 0, sizeof *a);
    if ((rc = nad_dfile_open(f, path, e)))
        return rc;
    if (f->max_bytes < 10 || (rc = nad_dfile_read(f, pre, 8, e)) || memcmp(pre, "\x93NUMPY", 6) != 0) {
        rc = nad_errf(e, NAD_EFORMAT, "%s: not a .npy file (bad magic)", path);
        goto out;
    }
    uint8_t major = pre[6], minor = pre[7];
    uint32_t hlen;
    if (major == 1) {
        if ((rc = nad_dfile_read(f, pre + 8, 2, e)))
            goto out;
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    } else if (major == 2 || major == 3) {
        if ((rc = nad_dfile_read(f, pre + 8, 4, e)))
            goto out;
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    } else {
        rc = nad_errf(e, NAD_EUNSUPPORTED, "%s: unsupported .npy format version %u.%u", path, (unsigned)major,
                      (unsigned)minor);
        goto out;
    }
    if (hlen > NPY_MAX_HEADER) {
        rc = nad_errf(e, NAD_EFORMAT, "%s: absurd .npy header length %u", path, (unsigned)hlen);
        goto out;
    }
    if ((rc = nad_dfile_check_room(f, hlen, e)))
        goto out;
    text = malloc(hlen + 1u);
    if (!text) {
        rc = nad_errf(e, NAD_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if ((rc = nad_dfile_read(f, text, hlen, e)))
        goto out;
    text[hlen] = '\0';
    rc = parse_header(path, text, hlen, a, e);
out:
    free(text);
    if (rc)
        nad_dfile_close(f);
    return rc;
}

/* Reverses the bytes of each size-byte item in place. */
static void byteswap(uint8_t *p, uint64_t count, int size)
{
    for (uint64_t i = 0; i < count; i++, p += size)
        for (int a = 0, b = size - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Reads a's data (count items) from f in native byte order into dst, or,
 * when dst is NULL, into a new malloc'd buffer returned in *out. */
static nad_status read_data(nad_dfile *f, const npy_array *a, void *dst, void **out, nad_err *e)
{
    nad_status rc;
    uint64_t bytes = a->count * (uint64_t)a->itemsize;
    uint8_t *buf = dst;

    if (out)
        *out = NULL;
    if ((rc = nad_dfile_check_room(f, bytes, e)))
        return rc;
    if (!buf)
        buf = malloc(bytes ? (size_t)bytes : 1);
    if (!buf)
        return nad_errf(e, NAD_ENOMEM, "%s: out of memory for %llu bytes", f->path, (unsigned long long)bytes);
    if ((rc = nad_dfile_read(f, buf, bytes, e)) || (rc = nad_dfile_expect_end(f, e))) {
        if (buf != dst)
            free(buf);
        return rc;
    }
    if (a->big_endian)
        byteswap(buf, a->count, a->itemsize);
    if (out)
        *out = buf;
    return NAD_OK;
}

/* Sign- or zero-extends item i of an integer array. */
static int64_t int_at(const void *data, const npy_array *a, uint64_t i)
{
    const uint8_t *p = (const uint8_t *)data + i * (uint64_t)a->itemsize;
    int s = a->kind == 'i';
    switch (a->itemsize) {
    case 1: {
        uint8_t v = p[0];
        return s ? (int64_t)(int8_t)v : (int64_t)v;
    }
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return s ? (int64_t)(int16_t)v : (int64_t)v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return s ? (int64_t)(int32_t)v : (int64_t)v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        /* A uint64 above INT64_MAX reads as negative and is rejected as out of range. */
        return (int64_t)v;
    }
    }
}

/* Copies NHWC element data (esize bytes each) into NCHW order. */
static void nhwc_to_nchw(const uint8_t *src, uint8_t *dst, int64_t n, int64_t h, int64_t w, int64_t c, int esize)
{
    int64_t plane = h * w;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *s = src + (uint64_t)(i * plane * c) * (uint64_t)esize;
        uint8_t *d = dst + (uint64_t)(i * plane * c) * (uint64_t)esize;
        for (int64_t p = 0; p < plane; p++)
            for (int64_t ch = 0; ch < c; ch++)
                memcpy(d + (uint64_t)(ch * plane + p) * (uint64_t)esize, s + (uint64_t)(p * c + ch) * (uint64_t)esize,
                       (size_t)esize);
    }
}

/*
 * Refuses float images holding NaN or +-inf: they would flow through every
 * layer and still yield an "accuracy" (argmax of NaN logits picks some class),
 * or poison training.  One pass over the loaded pixels; per names the values
 * per image so the message gives the image index.
 */
static nad_status check_finite(const char *path, const float *v, uint64_t count, uint64_t per, nad_err *e)
{
    for (uint64_t i = 0; i < count; i++)
        if (!isfinite(v[i]))
            return nad_errf(e, NAD_EFORMAT, "%s: image values must be finite (%s at image %llu)", path,
                            isnan(v[i]) ? "NaN" : v[i] > 0 ? "inf" : "-inf", (unsigned long long)(i / per));
    return NAD_OK;
}

/*
 * Loads images and labels .npy files into a dataset.  NCHW uint8/float32 data
 * is read straight into the dataset; float64 and NHWC go through a scratch
 * buffer to be converted.  Both headers are checked before any data is read.
 */
nad_status nad_npy_load(const char *images, const char *labels, nad_dataset **out, nad_err *e)
{
    nad_status rc;
    nad_dfile fi, fl;
    npy_array ai, al;
    nad_dataset *d = NULL;
    void *raw = NULL, *lraw = NULL;
    int64_t n, c, h, w;
    int hwc = 0;

    *out = NULL;
    memset(&fi, 0, sizeof fi);
    memset(&fl, 0, sizeof fl);
    if ((rc = open_npy(&fi, images, &ai, e)) || (rc = open_npy(&fl, labels, &al, e)))
        goto fail;
    if (!((ai.kind == 'u' && ai.itemsize == 1) || (ai.kind == 'f' && (ai.itemsize == 4 || ai.itemsize == 8)))) {
        rc = nad_errf(e, NAD_EUNSUPPORTED, "%s: image dtype '%s' is not supported (use uint8 or float32)", images,
                      ai.descr);
        goto fail;
    }
    if (ai.ndim == 3) {
        n = ai.shape[0], c = 1, h = ai.shape[1], w = ai.shape[2];
    } else if (ai.ndim == 4) {
        int64_t d1 = ai.shape[1], d3 = ai.shape[3];
        hwc = (d3 == 1 || d3 == 3) && d1 != 1 && d1 != 3;
        n = ai.shape[0];
        c = hwc ? d3 : d1;
        h = hwc ? d1 : ai.shape[2];
        w = hwc ? ai.shape[2] : d3;
    } else {
        rc = nad_errf(e, NAD_ESHAPE, "%s: images must be N x H x W, N x C x H x W or N x H x W x C (got %d dims)",
                      images, ai.ndim);
        goto fail;
    }
    if (n == 0 || c == 0 || h == 0 || w == 0) {
        rc = nad_errf(e, NAD_EFORMAT, "%s: holds no image data", images);
        goto fail;
    }
    if (c > INT32_MAX || h > INT32_MAX || w > INT32_MAX) {
        rc = nad_errf(e, NAD_EFORMAT, "%s: absurd image shape", images);
        goto fail;
    }
    if (al.kind != 'u' && al.kind != 'i') {
        rc = nad_errf(e, NAD_EUNSUPPORTED, "%s: label dtype '%s' is not an integer type", labels, al.descr);
        goto fail;
    }
    if (!(al.ndim == 1 || (al.ndim == 2 && al.shape[1] == 1))) {
        rc = nad_errf(e, NAD_ESHAPE, "%s: labels must be N or N x 1 (got %d dims)", labels, al.ndim);
        goto fail;
    }
    if (al.shape[0] != n) {
        rc = nad_errf(e, NAD_EFORMAT, "%s: holds %lld labels but %s holds %lld images (one label per image)", labels,
                      (long long)al.shape[0], images, (long long)n);
        goto fail;
    }
    int is_float = ai.kind == 'f';
    if ((rc = nad_dataset_alloc(n, c, h, w, is_float, images, &d, e)))
        goto fail;
    void *dst = is_float ? (void *)d->f32 : (void *)d->u8;
    if (!hwc && ai.itemsize != 8) {
        /* The common case: the file already holds NCHW uint8/float32; read in place. */
        if ((rc = read_data(&fi, &ai, dst, NULL, e)))
            goto fail;
    } else {
        if ((rc = read_data(&fi, &ai, NULL, &raw, e)))
            goto fail;
        if (ai.itemsize == 8) {
            /* float64: narrow to float32 in place (reordering happens on the result).
             * Item i is written over bytes already read, and memcpy keeps it
             * clear of strict-aliasing rules. */
            uint8_t *bytes = raw;
            for (uint64_t i = 0; i < ai.count; i++) {
                double v;
                memcpy(&v, bytes + 8 * i, sizeof v);
                float f = (float)v;
                if (isfinite(v) && !isfinite(f)) { /* finite in float64 but not in float32 */
                    rc = nad_errf(e, NAD_EFORMAT, "%s: image values must fit float32 (%g at image %llu)", images, v,
                                  (unsigned long long)(i / ((uint64_t)c * (uint64_t)h * (uint64_t)w)));
                    goto fail;
                }
                memcpy(bytes + 4 * i, &f, sizeof f);
            }
        }
        if (hwc)
            nhwc_to_nchw(raw, dst, n, h, w, c, is_float ? 4 : 1);
        else
            memcpy(dst, raw, (size_t)ai.count * sizeof(float));
    }
    if (is_float && (rc = check_finite(images, d->f32, ai.count, (uint64_t)c * (uint64_t)h * (uint64_t)w, e)))
        goto fail;
    if ((rc = read_data(&fl, &al, NULL, &lraw, e)))
        goto fail;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = int_at(lraw, &al, (uint64_t)i);
        if (v < 0 || v > NAD_MAX_LABEL) {
            rc = nad_errf(e, NAD_EFORMAT, "%s: label %lld of image %lld is out of range (0..%d)", labels,
                          (long long)v, (long long)i, NAD_MAX_LABEL);
            goto fail;
        }
        d->labels[i] = (int32_t)v;
    }
    if ((rc = nad_dataset_check_labels(d, labels, e)))
        goto fail;
    free(raw);
    free(lraw);
    nad_dfile_close(&fi);
    nad_dfile_close(&fl);
    *out = d;
    return NAD_OK;
fail:
    free(raw);
    free(lraw);
    nad_dataset_free(d);
    nad_dfile_close(&fi);
    nad_dfile_close(&fl);
    return rc;
}
