/*
 * Dataset formats (internal to src/data/): one loader per file format, plus
 * the helpers they share for building a nad_dataset.  dataset.c decides which
 * loader a path needs; each loader only knows its own format.
 */
#ifndef NAD_DATA_FORMATS_H
#define NAD_DATA_FORMATS_H

#include <stdint.h>

#include "nadapt/data.h"
#include "nadapt/status.h"

/* Largest label accepted; a bigger one is taken as a corrupt file, not as a
 * dataset with millions of classes. */
#define NAD_MAX_LABEL 1000000
/* Largest image buffer accepted (bytes); bigger claims are treated as a bad header. */
#define NAD_MAX_DATASET_BYTES (1ull << 36)

/* MNIST-layout IDX files (src/data/idx.c).  images/labels are file paths
 * (raw or .gz). */
nad_status nad_idx_load(const char *images, const char *labels, nad_dataset **out, nad_err *e);

/* A pair of NumPy .npy files (src/data/npy.c). */
nad_status nad_npy_load(const char *images, const char *labels, nad_dataset **out, nad_err *e);

/* CIFAR-10 binary batches (src/data/cifar.c): files[0..n_files) concatenated. */
nad_status nad_cifar_load(const char *const *files, int n_files, nad_dataset **out, nad_err *e);

/*
 * Allocates a dataset of n images of c x h x w with uninitialised pixels
 * (u8 when is_float is 0, else f32) and labels.  what names the source in the
 * message when the size is absurd or memory runs out.
 */
nad_status nad_dataset_alloc(int64_t n, int64_t c, int64_t h, int64_t w, int is_float, const char *what,
                             nad_dataset **out, nad_err *e);

/* Checks every label is in [0, NAD_MAX_LABEL] and sets d->n_classes; the
 * message names what and the first bad image index. */
nad_status nad_dataset_check_labels(nad_dataset *d, const char *what, nad_err *e);

#endif
