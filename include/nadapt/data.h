/*
 * nadapt — image classification datasets.
 *
 * nad_dataset_load(path, split) picks the format from what path holds:
 *   1. a directory with MNIST-layout IDX files: {t10k,train}-images-idx3-ubyte
 *      + {t10k,train}-labels-idx1-ubyte, each raw or .gz (also the dotted
 *      names t10k-images.idx3-ubyte ...).  Magic 0x00000803 / 0x00000801,
 *      big-endian counts; counts must agree and each file must be exactly as
 *      long as its header says.
 *   2. a directory with NumPy .npy pairs: {test,train}_images.npy +
 *      {test,train}_labels.npy, or x_{test,train}.npy + y_{test,train}.npy.
 *   3. a directory with CIFAR-10 binary batches: test_batch.bin (test) or all
 *      of data_batch_1..5.bin (train); records of 1 label byte + 3072 pixel
 *      bytes (also found in a cifar-10-batches-bin/ subdirectory).
 *   4. a prefix P with P_images.npy and P_labels.npy next to it (e.g.
 *      examples/fixtures/fmnist_test256), or the file P_images.npy itself;
 *      the split is ignored.
 * .npy rules: format 1.0/2.0/3.0, fortran_order False; images uint8
 * ('|u1'), float32 or float64 (kept as float32), either byte order, shaped
 * N x H x W, N x C x H x W, or N x H x W x C — the last is assumed when the
 * last dim is 1 or 3 and dim 1 is not, and converted to NCHW; labels of any
 * integer dtype, shaped N or N x 1.
 * Labels must lie in 0..1,000,000; n_classes is 1 + the largest.  A missing
 * path is NAD_EIO "PATH: No such file or directory"; a directory with no
 * known format is NAD_EIO listing the names looked for; bad files are
 * NAD_EFORMAT / NAD_EUNSUPPORTED / NAD_ESHAPE naming the file.
 *
 * Images are kept as loaded (uint8 when the file is uint8) and converted to
 * normalised float32 NCHW per batch: x = (pixel / 255 - mean[c]) / std[c]
 * for uint8 data, (value - mean[c]) / std[c] for float32 data, computed in
 * float exactly as written (bit-identical to numpy's float32 arithmetic).
 */
#ifndef NADAPT_DATA_H
#define NADAPT_DATA_H

#include <stdint.h>

#include "nadapt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nad_split { NAD_SPLIT_TEST = 0, NAD_SPLIT_TRAIN = 1 } nad_split;

typedef struct nad_dataset {
    int64_t n;        /* number of images                 */
    int c, h, w;      /* image shape (CHW)                */
    int n_classes;    /* 1 + largest label                */
    uint8_t *u8;      /* n*c*h*w pixels (NCHW) or NULL    */
    float *f32;       /* n*c*h*w values (NCHW) or NULL    */
    int32_t *labels;  /* n labels                         */
} nad_dataset;

/* Loads a split from path (rules above); on failure *out is NULL and e names
 * the path and the problem.  Free the result with nad_dataset_free. */
nad_status nad_dataset_load(const char *path, nad_split split, nad_dataset **out, nad_err *e);

/*
 * Writes images idx[0..n) as normalised float32 NCHW into out (n*c*h*w floats);
 * idx NULL means images first..first+n-1.  mean/std have n_ch entries: 1 (same
 * for every channel) or c.  NAD_EINVAL (nothing written) when n_ch is neither,
 * a std is 0 or not finite, a mean is not finite, or an image index is out of
 * range.  Thread-safe for distinct out buffers (d is only read).
 */
nad_status nad_dataset_batch(const nad_dataset *d, const int64_t *idx, int64_t first, int n, const float *mean,
                             const float *std, int n_ch, float *out, nad_err *e);

/* Frees d; NULL is allowed. */
void nad_dataset_free(nad_dataset *d);

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_DATA_H */
