/*
 * nadapt — mappings: the per-group problem of a layer, tile extents and
 * footprints, validity against an arch, and the compact text form.
 * See mapping.h for the representation.
 */
#include "mapping.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char dim_letters[NAD_DIM_COUNT] = {'N', 'M', 'C', 'P', 'Q', 'R', 'S'};

char nad_dim_letter(nad_dim d)
{
    return (unsigned)d < NAD_DIM_COUNT ? dim_letters[d] : '?';
}

/* Dim of a letter, or -1. */
static int dim_of_letter(char c)
{
    c = (char)toupper((unsigned char)c);
    for (int d = 0; d < NAD_DIM_COUNT; d++)
        if (dim_letters[d] == c)
            return d;
    return -1;
}

nad_status nad_problem_from_layer(const nad_layer_shape *l, nad_problem *out, nad_err *e)
{
    if (l->kind == NAD_LK_POOL || l->kind == NAD_LK_ELTWISE)
        return nad_errf(e, NAD_EINVAL, "layer '%s': %s layers have no MACs to map", l->name,
                        nad_layer_kind_str(l->kind));
    int64_t g = l->groups > 0 ? l->groups : 1;
    if (l->N <= 0 || l->M <= 0 || l->C <= 0 || l->P <= 0 || l->Q <= 0 || l->R <= 0 || l->S <= 0 || l->C % g ||
        l->M % g)
        return nad_errf(e, NAD_EINVAL, "layer '%s': bad shape N%lld M%lld C%lld P%lld Q%lld R%lld S%lld groups %lld",
                        l->name, (long long)l->N, (long long)l->M, (long long)l->C, (long long)l->P,
                        (long long)l->Q, (long long)l->R, (long long)l->S, (long long)g);
    memset(out, 0, sizeof *out);
    out->dim[NAD_DIM_N] = l->N;
    out->dim[NAD_DIM_M] = l->M / g;
    out->dim[NAD_DIM_C] = l->C / g;
    out->dim[NAD_DIM_P] = l->P;
    out->dim[NAD_DIM_Q] = l->Q;
    out->dim[NAD_DIM_R] = l->R;
    out->dim[NAD_DIM_S] = l->S;
    out->stride_h = l->stride_h > 0 ? l->stride_h : 1;
    out->stride_w = l->stride_w > 0 ? l->stride_w : 1;
    out->dil_h = l->dil_h > 0 ? l->dil_h : 1;
    out->dil_w = l->dil_w > 0 ? l->dil_w : 1;
    out->groups = g;
    out->weight_density = l->weight_density > 0 && l->weight_density <= 1 ? l->weight_density : 1.0;
    out->act_density = l->act_density > 0 && l->act_density <= 1 ? l->act_density : 1.0;
    out->out_density = 1.0;
    return NAD_OK;
}

void nad_mapping_init(nad_mapping *m, const nad_arch *a)
{
    memset(m, 0, sizeof *m);
    m->n_levels = a->n_levels;
    m->first_pe_level = a->first_pe_level;
    for (int k = 0; k < NAD_ARCH_MAX_LEVELS; k++)
        for (int d = 0; d < NAD_DIM_COUNT; d++) {
            m->factor[k][d] = 1;
            m->order[k][d] = (uint8_t)d;
        }
    for (int d = 0; d < NAD_DIM_COUNT; d++) {
        m->sx[d] = m->sy[d] = 1;
        m->sx_order[d] = m->sy_order[d] = (uint8_t)d;
    }
}

int64_t nad_mapping_extent(const nad_mapping *m, nad_dim d)
{
    int64_t x = m->sx[d] * m->sy[d];
    for (int k = 0; k < m->n_levels; k++)
        x *= m->factor[k][d];
    return x;
}

int64_t nad_mapping_pes(const nad_mapping *m)
{
    int64_t x = 1;
    for (int d = 0; d < NAD_DIM_COUNT; d++)
        x *= m->sx[d] * m->sy[d];
    return x;
}

int64_t nad_mapping_iterations(const nad_mapping *m)
{
    int64_t x = 1;
    for (int k = 0; k < m->n_levels; k++)
        for (int d = 0; d < NAD_DIM_COUNT; d++)
            x *= m->factor[k][d];
    return x;
}

void nad_mapping_tile(const nad_mapping *m, int k, int64_t ext[NAD_DIM_COUNT])
{
    for (int d = 0; d < NAD_DIM_COUNT; d++) {
        int64_t x = k < m->first_pe_level ? m->sx[d] * m->sy[d] : 1;
        for (int j = k; j < m->n_levels; j++)
            x *= m->factor[j][d];
        ext[d] = x;
    }
}

/* Rows of input a window of `out` outputs and `taps` filter taps touches. */
static int64_t window(int64_t out, int64_t taps, int stride, int dil)
{
    int64_t span = (out - 1) * stride + (taps - 1) * dil + 1;
    int64_t dense = out * taps; /* stride larger than the window: no overlap */
    return span < dense ? span : dense;
}

int64_t nad_problem_footprint(const nad_problem *p, nad_dataspace ds, const int64_t ext[NAD_DIM_COUNT])
{
    switch (ds) {
    case NAD_DS_WEIGHTS:
        return ext[NAD_DIM_M] * ext[NAD_DIM_C] * ext[NAD_DIM_R] * ext[NAD_DIM_S];
    case NAD_DS_OUTPUTS:
        return ext[NAD_DIM_N] * ext[NAD_DIM_M] * ext[NAD_DIM_P] * ext[NAD_DIM_Q];
    case NAD_DS_INPUTS:
        return ext[NAD_DIM_N] * ext[NAD_DIM_C] * window(ext[NAD_DIM_P], ext[NAD_DIM_R], p->stride_h, p->dil_h) *
               window(ext[NAD_DIM_Q], ext[NAD_DIM_S], p->stride_w, p->dil_w);
    default:
        return 0;
    }
}

nad_status nad_mapping_check(const nad_mapping *m, const nad_arch *a, const nad_problem *p, nad_err *e)
{
    char txt[NAD_MAPPING_TEXT_MAX];
    if (m->n_levels != a->n_levels || m->first_pe_level != a->first_pe_level)
        return nad_errf(e, NAD_EINVAL, "mapping has %d levels, arch '%s' has %d", m->n_levels, a->name, a->n_levels);
    int64_t px = 1, py = 1;
    for (int d = 0; d < NAD_DIM_COUNT; d++) {
        if (m->sx[d] < 1 || m->sy[d] < 1)
            return nad_errf(e, NAD_EINVAL, "mapping: spatial factor of %c below 1", dim_letters[d]);
        for (int k = 0; k < m->n_levels; k++)
            if (m->factor[k][d] < 1)
                return nad_errf(e, NAD_EINVAL, "mapping: factor of %c at %s below 1", dim_letters[d],
                                a->levels[k].name);
        px *= m->sx[d];
        py *= m->sy[d];
        if (nad_mapping_extent(m, (nad_dim)d) < p->dim[d])
            return nad_errf(e, NAD_EINVAL, "mapping %s breaks coverage: the factors of %c cover %lld of %lld",
                            nad_mapping_format(m, a, txt, sizeof txt), dim_letters[d],
                            (long long)nad_mapping_extent(m, (nad_dim)d), (long long)p->dim[d]);
    }
    int cols = a->kind == NAD_TARGET_SPATIAL ? a->pe_cols : 1;
    int rows = a->kind == NAD_TARGET_SPATIAL ? a->pe_rows : 1;
    if (px > cols || py > rows)
        return nad_errf(e, NAD_EINVAL, "mapping %s breaks fanout: Y x X uses %lld x %lld PEs of a %d x %d array",
                        nad_mapping_format(m, a, txt, sizeof txt), (long long)py, (long long)px, rows, cols);
    for (int k = 0; k < m->n_levels; k++) {
        int64_t ext[NAD_DIM_COUNT], vals[NAD_DS_COUNT];
        nad_mapping_tile(m, k, ext);
        for (int ds = 0; ds < NAD_DS_COUNT; ds++)
            vals[ds] = a->levels[k].holds[ds] ? nad_problem_footprint(p, (nad_dataspace)ds, ext) : 0;
        if (!nad_arch_level_fits(a, k, vals))
            return nad_errf(e, NAD_EINVAL,
                            "mapping %s breaks capacity: the tile at %s (weights %lld, inputs %lld, outputs %lld) "
                            "exceeds it",
                            nad_mapping_format(m, a, txt, sizeof txt), a->levels[k].name, (long long)vals[0],
                            (long long)vals[1], (long long)vals[2]);
    }
    return NAD_OK;
}

/* Appends "NAME[" + factors > 1 in `order` + "]" to buf when any factor > 1. */
static void append_loops(char *buf, size_t size, size_t *len, const char *name, const int64_t *factor,
                         const uint8_t *order)
{
    int any = 0;
    for (int i = 0; i < NAD_DIM_COUNT; i++)
        if (factor[order[i]] > 1)
            any = 1;
    if (!any || *len >= size)
        return;
    int n = snprintf(buf + *len, size - *len, "%s%s[", *len ? " " : "", name);
    *len = n > 0 ? *len + (size_t)n : *len;
    int first = 1;
    for (int i = 0; i < NAD_DIM_COUNT && *len < size; i++) {
        int d = order[i];
        if (factor[d] <= 1)
            continue;
        n = snprintf(buf + *len, size - *len, "%s%c%lld", first ? "" : " ", dim_letters[d], (long long)factor[d]);
        *len = n > 0 ? *len + (size_t)n : *len;
        first = 0;
    }
    if (*len < size) {
        n = snprintf(buf + *len, size - *len, "]");
        *len = n > 0 ? *len + (size_t)n : *len;
    }
}

char *nad_mapping_format(const nad_mapping *m, const nad_arch *a, char *buf, size_t size)
{
    size_t len = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (int k = 0; k < m->n_levels; k++) {
        if (k == m->first_pe_level) {
            append_loops(buf, size, &len, "X", m->sx, m->sx_order);
            append_loops(buf, size, &len, "Y", m->sy, m->sy_order);
        }
        append_loops(buf, size, &len, a->levels[k].name, m->factor[k], m->order[k]);
    }
    if (m->first_pe_level >= m->n_levels) {
        append_loops(buf, size, &len, "X", m->sx, m->sx_order);
        append_loops(buf, size, &len, "Y", m->sy, m->sy_order);
    }
    if (len == 0)
        snprintf(buf, size, "%s[]", a->n_levels ? a->levels[0].name : "-");
    buf[size - 1] = '\0';
    return buf;
}

/* Parses "C4 P8 ..." between brackets into factor/order; seen marks dims. */
static nad_status parse_loops(const char *s, const char *end, const char *name, int64_t *factor, uint8_t *order,
                              nad_err *e)
{
    int seen[NAD_DIM_COUNT] = {0};
    int n = 0;
    while (s < end) {
        if (isspace((unsigned char)*s) || *s == ',') {
            s++;
            continue;
        }
        int d = dim_of_letter(*s);
        if (d < 0)
            return nad_errf(e, NAD_EFORMAT, "mapping: %s: '%c' is not a dim (N M C P Q R S)", name, *s);
        if (seen[d])
            return nad_errf(e, NAD_EFORMAT, "mapping: %s: dim %c given twice", name, dim_letters[d]);
        s++;
        char *after = NULL;
        long long f = strtoll(s, &after, 10);
        if (after == s || after > end || f < 1 || f > (1LL << 40))
            return nad_errf(e, NAD_EFORMAT, "mapping: %s: dim %c needs a positive factor", name, dim_letters[d]);
        s = after;
        seen[d] = 1;
        factor[d] = f;
        order[n++] = (uint8_t)d;
    }
    for (int d = 0; d < NAD_DIM_COUNT; d++)
        if (!seen[d])
            order[n++] = (uint8_t)d;
    return NAD_OK;
}

nad_status nad_mapping_parse(const char *text, const nad_arch *a, nad_mapping *out, nad_err *e)
{
    nad_mapping m;
    nad_mapping_init(&m, a);
    const char *s = text;
    int seen[NAD_ARCH_MAX_LEVELS + 2] = {0};
    while (*s) {
        if (isspace((unsigned char)*s)) {
            s++;
            continue;
        }
        const char *open = strchr(s, '[');
        if (!open)
            return nad_errf(e, NAD_EFORMAT, "mapping: expected NAME[...] at '%.32s'", s);
        const char *close = strchr(open, ']');
        if (!close)
            return nad_errf(e, NAD_EFORMAT, "mapping: missing ']' after '%.32s'", s);
        char name[NAD_ARCH_NAME_MAX];
        size_t nl = (size_t)(open - s);
        while (nl > 0 && isspace((unsigned char)s[nl - 1]))
            nl--;
        if (nl == 0 || nl >= sizeof name)
            return nad_errf(e, NAD_EFORMAT, "mapping: bad level name at '%.32s'", s);
        memcpy(name, s, nl);
        name[nl] = '\0';
        int slot = -1;
        int64_t *factor = NULL;
        uint8_t *order = NULL;
        if (strcasecmp(name, "X") == 0) {
            slot = NAD_ARCH_MAX_LEVELS, factor = m.sx, order = m.sx_order;
        } else if (strcasecmp(name, "Y") == 0) {
            slot = NAD_ARCH_MAX_LEVELS + 1, factor = m.sy, order = m.sy_order;
        } else {
            for (int k = 0; k < a->n_levels; k++)
                if (strcasecmp(a->levels[k].name, name) == 0)
                    slot = k;
            if (slot < 0)
                return nad_errf(e, NAD_EFORMAT, "mapping: '%s' is not a level of %s (nor X or Y)", name, a->name);
            factor = m.factor[slot];
            order = m.order[slot];
        }
        if (seen[slot])
            return nad_errf(e, NAD_EFORMAT, "mapping: level %s given twice", name);
        seen[slot] = 1;
        nad_status rc = parse_loops(open + 1, close, name, factor, order, e);
        if (rc)
            return rc;
        s = close + 1;
    }
    *out = m;
    return NAD_OK;
}
