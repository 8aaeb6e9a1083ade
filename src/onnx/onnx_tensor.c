/*
 * TensorProto → nadapt blob: the one place that knows how ONNX stores tensor
 * data (raw little-endian bytes or typed repeated fields) and which element
 * types nadapt converts (float32, double → float32; int64, int32 → int64).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* True when this host stores integers little-endian (ONNX raw_data order). */
static int host_is_le(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Copies n little-endian elements of width w from src to dst (host order). */
static void copy_le(void *dst, const uint8_t *src, size_t n, size_t w)
{
    if (host_is_le()) {
        memcpy(dst, src, n * w);
        return;
    }
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < w; k++)
            d[i * w + k] = src[i * w + (w - 1 - k)];
}

static const char *dtype_name(int32_t dt)
{
    static const char *const names[] = {"undefined", "float32",   "uint8",      "int8",   "uint16", "int16",
                                        "int32",     "int64",     "string",     "bool",   "float16", "double",
                                        "uint32",    "uint64",    "complex64",  "complex128", "bfloat16"};
    return dt >= 0 && dt < (int32_t)(sizeof names / sizeof names[0]) ? names[dt] : "unknown";
}

nad_status nad_onnx_decode_tensor(const Onnx__TensorProto *tp, const char *name, nad_dtype *dtype, int *ndim,
                                  int64_t dims[NAD_MAX_DIMS], nad_blob **blob, nad_err *e)
{
    *blob = NULL;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return nad_errf(e, NAD_EUNSUPPORTED, "tensor '%s' keeps its data in an external file (unsupported)", name);
    if (tp->segment)
        return nad_errf(e, NAD_EUNSUPPORTED, "tensor '%s' is segmented (unsupported)", name);
    if (tp->n_dims > NAD_MAX_DIMS)
        return nad_errf(e, NAD_EUNSUPPORTED, "tensor '%s' has rank %zu (at most %d supported)", name, tp->n_dims,
                        NAD_MAX_DIMS);
    /* The element count must not overflow: a hostile file may claim
     * [2^40, 2^40] and hope for a huge allocation or a wrapped product. */
    int64_t numel = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        int64_t d = tp->dims[i];
        if (d < 0)
            return nad_errf(e, NAD_EFORMAT, "tensor '%s' has a negative dimension %lld", name, (long long)d);
        if (d && numel > INT64_MAX / 8 / d)
            return nad_errf(e, NAD_EFORMAT, "tensor '%s' has an absurd size (dims overflow)", name);
        numel *= d;
        dims[i] = d;
    }
    *ndim = (int)tp->n_dims;
    int32_t dt = tp->has_data_type ? tp->data_type : 0;
    size_t n = (size_t)numel;
    size_t src_w; /* bytes per element in raw_data */
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        *dtype = NAD_DT_FLOAT, src_w = 4;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        *dtype = NAD_DT_FLOAT, src_w = 8;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        *dtype = NAD_DT_INT64, src_w = 8;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
        *dtype = NAD_DT_INT64, src_w = 4;
        break;
    default:
        return nad_errf(e, NAD_EUNSUPPORTED,
                        "tensor '%s' has element type %s (only float32, double, int32 and int64 are supported)",
                        name, dtype_name(dt));
    }
    /* Exactly one source of data, holding exactly n elements.  Checking the
     * count before allocating caps every allocation by the file size. */
    size_t typed = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT    ? tp->n_float_data
                   : dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ? tp->n_double_data
                   : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64  ? tp->n_int64_data
                                                                 : tp->n_int32_data;
    int raw = tp->has_raw_data && (tp->raw_data.len > 0 || typed == 0);
    if (raw) {
        if (tp->raw_data.len != n * src_w)
            return nad_errf(e, NAD_EFORMAT, "tensor '%s': raw_data holds %zu bytes, dims need %zu", name,
                            tp->raw_data.len, n * src_w);
    } else if (typed != n) {
        return nad_errf(e, NAD_EFORMAT, "tensor '%s' holds %zu values, dims need %zu", name, typed, n);
    }
    nad_blob *b = nad_blob_new(n * (*dtype == NAD_DT_INT64 ? 8 : 4));
    if (!b)
        return nad_errf(e, NAD_ENOMEM, "out of memory reading tensor '%s'", name);
    float *f = b->data;
    int64_t *q = b->data;
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        if (raw)
            copy_le(f, tp->raw_data.data, n, 4);
        else if (n)
            memcpy(f, tp->float_data, n * 4);
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        if (raw)
            copy_le(q, tp->raw_data.data, n, 8);
        else if (n)
            memcpy(q, tp->int64_data, n * 8);
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        for (size_t i = 0; i < n; i++) {
            double d;
            if (raw)
                copy_le(&d, tp->raw_data.data + i * 8, 1, 8);
            else
                d = tp->double_data[i];
            /* Out-of-range double → float is undefined behaviour in C. */
            f[i] = d > FLT_MAX ? INFINITY : d < -FLT_MAX ? -INFINITY : (float)d;
        }
        break;
    default: /* INT32 */
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            if (raw)
                copy_le(&v, tp->raw_data.data + i * 4, 1, 4);
            else
                v = tp->int32_data[i];
            q[i] = v;
        }
        break;
    }
    *blob = b;
    return NAD_OK;
}
