/*
 * MNIST-layout IDX files: a big-endian header (magic 0x00000803 for unsigned
 * byte images with three dims, 0x00000801 for labels with one) followed by the
 * raw bytes.  Both files may be gzip-compressed.
 */
#include <stdlib.h>
#include <string.h>

#include "data/dfile.h"
#include "data/formats.h"

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u

/* Big-endian 32-bit word at p (IDX headers are big-endian). */
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/*
 * Reads an IDX header of 1 + ndim big-endian words from f and checks the
 * magic; dims receives the ndim counts.  kind ("images"/"labels") goes into
 * the message when the magic is wrong.
 */
static nad_status read_header(nad_dfile *f, uint32_t magic, int ndim, uint32_t *dims, const char *kind, nad_err *e)
{
    uint8_t hdr[16];
    /* The magic first, so that a wrong (even tiny) file is named as such, not as truncated. */
    nad_status rc = nad_dfile_read(f, hdr, 4, e);
    if (rc)
        return rc;
    uint32_t got = be32(hdr);
    if (got != magic)
        return nad_errf(e, NAD_EFORMAT, "%s: bad IDX magic 0x%08x (expected 0x%08x for unsigned-byte %s)", f->path,
                        (unsigned)got, (unsigned)magic, kind);
    if ((rc = nad_dfile_read(f, hdr + 4, (uint64_t)(4 * ndim), e)))
        return rc;
    for (int i = 0; i < ndim; i++)
        dims[i] = be32(hdr + 4 * (i + 1));
    return NAD_OK;
}

/*
 * Loads an images file (n x rows x cols, unsigned bytes) and a labels file
 * (n unsigned bytes).  Assumes nothing about sizes: counts must agree and
 * each file must be exactly as long as its header says.
 */
nad_status nad_idx_load(const char *images, const char *labels, nad_dataset **out, nad_err *e)
{
    nad_status rc;
    nad_dfile fi, fl;
    nad_dataset *d = NULL;
    uint8_t *lab = NULL;
    uint32_t idims[3] = {0, 0, 0}, ldims[1] = {0};

    *out = NULL;
    memset(&fi, 0, sizeof fi);
    memset(&fl, 0, sizeof fl);
    if ((rc = nad_dfile_open(&fi, images, e)) || (rc = nad_dfile_open(&fl, labels, e)))
        goto fail;
    if ((rc = read_header(&fi, IDX_MAGIC_IMAGES, 3, idims, "images", e)) ||
        (rc = read_header(&fl, IDX_MAGIC_LABELS, 1, ldims, "labels", e)))
        goto fail;
    if (idims[0] != ldims[0]) {
        rc = nad_errf(e, NAD_EFORMAT, "%s: holds %u labels but %s holds %u images (one label per image)", labels,
                      (unsigned)ldims[0], images, (unsigned)idims[0]);
        goto fail;
    }
    if (idims[0] == 0 || idims[1] == 0 || idims[2] == 0) {
        rc = nad_errf(e, NAD_EFORMAT, "%s: empty (%u images of %u x %u)", images, (unsigned)idims[0],
                      (unsigned)idims[1], (unsigned)idims[2]);
        goto fail;
    }
    /* rows*cols fits 64 bits; the division catches the product with n wrapping. */
    uint64_t npix = (uint64_t)idims[0] * ((uint64_t)idims[1] * idims[2]);
    if ((uint64_t)idims[1] * idims[2] > NAD_MAX_DATASET_BYTES || npix / idims[0] != (uint64_t)idims[1] * idims[2]) {
        rc = nad_errf(e, NAD_EFORMAT, "%s: absurd header (%u images of %u x %u)", images, (unsigned)idims[0],
                      (unsigned)idims[1], (unsigned)idims[2]);
        goto fail;
    }
    /* Check the files can hold what the headers promise before allocating. */
    if ((rc = nad_dfile_check_room(&fi, npix, e)) || (rc = nad_dfile_check_room(&fl, ldims[0], e)))
        goto fail;
    if ((rc = nad_dataset_alloc(idims[0], 1, idims[1], idims[2], 0, images, &d, e)))
        goto fail;
    lab = malloc(ldims[0]);
    if (!lab) {
        rc = nad_errf(e, NAD_ENOMEM, "%s: out of memory for %u labels", labels, (unsigned)ldims[0]);
        goto fail;
    }
    if ((rc = nad_dfile_read(&fi, d->u8, npix, e)) || (rc = nad_dfile_expect_end(&fi, e)) ||
        (rc = nad_dfile_read(&fl, lab, ldims[0], e)) || (rc = nad_dfile_expect_end(&fl, e)))
        goto fail;
    for (uint32_t i = 0; i < ldims[0]; i++)
        d->labels[i] = lab[i];
    if ((rc = nad_dataset_check_labels(d, labels, e)))
        goto fail;
    free(lab);
    nad_dfile_close(&fi);
    nad_dfile_close(&fl);
    *out = d;
    return NAD_OK;
fail:
    free(lab);
    nad_dataset_free(d);
    nad_dfile_close(&fi);
    nad_dfile_close(&fl);
    return rc;
}
