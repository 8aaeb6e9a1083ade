/*
 * CIFAR-10 binary batches: records of one label byte followed by 3072 pixel
 * bytes (3 x 32 x 32, channel-major, so NCHW already).  Several files
 * (data_batch_1..5.bin) concatenate into one training split.
 */
#include <stdlib.h>
#include <string.h>

#include "data/dfile.h"
#include "data/formats.h"

#define CIFAR_C 3
#define CIFAR_HW 32
#define CIFAR_PIXELS (CIFAR_C * CIFAR_HW * CIFAR_HW)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CLASSES 10
/* The official batches hold 10,000 records (30.7 MB); allow far bigger ones. */
#define CIFAR_MAX_FILE (1ull << 34)

/*
 * Reads every file whole, checks its length is a multiple of 3073 bytes, then
 * splits the records into pixels and labels.  All files stay in memory until
 * the dataset is allocated (about twice the dataset at peak: 300 MB for the
 * 50,000 training images), which keeps the record count exact without trusting
 * file sizes of gzip-compressed batches.
 */
nad_status nad_cifar_load(const char *const *files, int n_files, nad_dataset **out, nad_err *e)
{
    nad_status rc = NAD_OK;
    nad_dataset *d = NULL;
    uint8_t *bufs[8] = {NULL};
    uint64_t lens[8] = {0};
    int64_t n = 0;

    *out = NULL;
    if (n_files < 1 || n_files > 8)
        return nad_errf(e, NAD_EINVAL, "CIFAR: %d batch files (expected 1 to 8)", n_files);
    for (int i = 0; i < n_files; i++) {
        if ((rc = nad_dfile_slurp(files[i], CIFAR_MAX_FILE, &bufs[i], &lens[i], e)))
            goto out;
        if (lens[i] == 0 || lens[i] % CIFAR_RECORD != 0) {
            rc = nad_errf(e, NAD_EFORMAT, "%s: %llu bytes is not a whole number of CIFAR-10 records (%d bytes each)",
                          files[i], (unsigned long long)lens[i], CIFAR_RECORD);
            goto out;
        }
        /* Check labels here, while the file that holds a bad one is known. */
        for (uint64_t j = 0; j < lens[i] / CIFAR_RECORD; j++)
            if (bufs[i][j * CIFAR_RECORD] >= CIFAR_CLASSES) {
                rc = nad_errf(e, NAD_EFORMAT, "%s: label %u of record %llu is not a CIFAR-10 class (0..%d)", files[i],
                              (unsigned)bufs[i][j * CIFAR_RECORD], (unsigned long long)j, CIFAR_CLASSES - 1);
                goto out;
            }
        n += (int64_t)(lens[i] / CIFAR_RECORD);
    }
    if ((rc = nad_dataset_alloc(n, CIFAR_C, CIFAR_HW, CIFAR_HW, 0, files[0], &d, e)))
        goto out;
    int64_t k = 0;
    for (int i = 0; i < n_files; i++) {
        const uint8_t *r = bufs[i];
        for (uint64_t j = 0; j < lens[i] / CIFAR_RECORD; j++, k++, r += CIFAR_RECORD) {
            d->labels[k] = r[0];
            memcpy(d->u8 + (size_t)k * CIFAR_PIXELS, r + 1, CIFAR_PIXELS);
        }
        free(bufs[i]);
        bufs[i] = NULL;
    }
    if ((rc = nad_dataset_check_labels(d, files[0], e)))
        goto out;
    *out = d;
    d = NULL;
out:
    for (int i = 0; i < n_files && i < 8; i++)
        free(bufs[i]);
    nad_dataset_free(d);
    return rc;
}
