/*
 * nadapt — image classification datasets.
 *
 * Formats, picked by what the path holds:
 *   - a directory with MNIST-layout IDX files ({train,t10k}-{images-idx3,labels-idx1}-ubyte, optionally .gz),
 *   - a directory (or file prefix) with NumPy .npy images (uint8 or float32; N x H x W, N x C x H x W or
 *     N x H x W x C for uint8) and integer labels,
 *   - a directory with CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin).
 * Images are kept as loaded (uint8 when the file is uint8) and converted to
 * normalised float32 NCHW per batch: x = (pixel / 255 - mean[c]) / std[c]
 * for uint8 data, (value - mean[c]) / std[c] for float32 data.
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

/* Loads a split from path; on failure e names the path and the problem. */
nad_status nad_dataset_load(const char *path, nad_split split, nad_dataset **out, nad_err *e);

/*
 * Writes images idx[0..n) as normalised float32 NCHW into out (n*c*h*w floats);
 * idx NULL means images first..first+n.  mean/std have n_ch entries: 1 (same for
 * every channel) or c.
 */
nad_status nad_dataset_batch(const nad_dataset *d, const int64_t *idx, int64_t first, int n, const float *mean,
                             const float *std, int n_ch, float *out, nad_err *e);

/* Frees d; NULL is allowed. */
void nad_dataset_free(nad_dataset *d);

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_DATA_H */
