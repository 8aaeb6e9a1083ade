/*
 * Channel-dependency groups, filter ranking and shrinking (proposals/).
 *
 * The central check is exactness: removing channels whose filters and biases
 * are all zero must leave the network's logits bit-identical, on every
 * fixture and every prunable group — a slicing mistake anywhere (a consumer
 * offset, a BN statistic, a depthwise group count, a Reshape target) shows up
 * as a different number.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph/graph.h"
#include "graph_builder.h"
#include "groups.h"
#include "reduce.h"
#include "nadapt/engine.h"
#include "testutil.h"

static const char *const FIXTURES[] = {"cnn_bn", "resnet", "mobilenetv2", "concat", "mlp_pool"};
#define N_FIX 5

static void ok(nad_status rc, const nad_err *e)
{
    if (rc)
        fail_msg("%s", e->msg);
}

static nad_graph *load(const char *name, int op, int fold)
{
    char rel[128];
    snprintf(rel, sizeof rel, "examples/fixtures/%s.op%d.onnx", name, op);
    nad_graph *g;
    nad_err e;
    ok(nad_graph_load_onnx(tu_src(rel), fold, &g, &e), &e);
    return g;
}

/* Logits of the first n images of the committed 256-image test sample. */
static float *logits(nad_graph *g, int n)
{
    size_t len;
    void *raw = tu_read_file(tu_src("examples/fixtures/fmnist_test256_images.npy"), &len);
    assert_non_null(raw);
    const uint8_t *px = (const uint8_t *)raw + len - (size_t)256 * 784;
    nad_plan *p;
    nad_err e;
    ok(nad_plan_create(g, n, &p, &e), &e);
    float *x = nad_plan_input(p);
    for (int i = 0; i < n * 784; i++)
        x[i] = ((float)px[i] / 255.0f - 0.2860f) / 0.3530f;
    ok(nad_plan_run(p, n, &e), &e);
    int64_t m = nad_plan_output_size(p);
    float *out = malloc((size_t)(n * m) * sizeof *out);
    memcpy(out, nad_plan_output(p), (size_t)(n * m) * sizeof *out);
    nad_plan_destroy(p);
    free(raw);
    return out;
}

/* Zeroes channel ch's slices in every FILTERS and PARAM member of grp. */
static void zero_channel(nad_graph *g, const nad_group *grp, int ch)
{
    nad_err e;
    for (int k = 0; k < grp->n_m; k++) {
        const nad_group_member *m = &grp->m[k];
        if (m->kind != NAD_MEM_FILTERS && m->kind != NAD_MEM_PARAM)
            continue;
        nad_tensor *t = &g->tensors[m->tensor];
        ok(nad_tensor_make_writable(t, &e), &e);
        int64_t outer = 1, inner = 1, len = t->dims[m->axis];
        for (int a = 0; a < m->axis; a++)
            outer *= t->dims[a];
        for (int a = m->axis + 1; a < t->ndim; a++)
            inner *= t->dims[a];
        float *w = nad_tensor_f32(t);
        for (int64_t o = 0; o < outer; o++)
            memset(w + (o * len + m->offset + (int64_t)ch * m->per) * inner, 0,
                   (size_t)(m->per * inner) * sizeof(float));
    }
}

/* Every prunable group of every fixture: zero 1/4 of its channels, prune
 * them, and compare logits bit for bit with the zeroed network's. */
static void zero_filters_prune_exactly(void **state)
{
    for (int f = 0; f < N_FIX; f++)
        for (int op = 11; op <= 13; op += 2) {
            nad_graph *g = load(FIXTURES[f], op, 1);
            nad_groups *gs;
            nad_err e;
            ok(nad_groups_find(g, &gs, &e), &e);
            assert_true(nad_groups_prunable(gs) >= 1);
            for (int q = 0; q < gs->n; q++) {
                const nad_group *grp = &gs->g[q];
                if (grp->frozen)
                    continue;
                nad_graph *z = nad_graph_copy(g);
                int *keep = malloc((size_t)grp->channels * sizeof *keep), nk = 0;
                for (int ch = 0; ch < grp->channels; ch++)
                    if (ch % 4 == 1)
                        zero_channel(z, grp, ch);
                    else
                        keep[nk++] = ch;
                nad_graph *p;
                ok(nad_shrink(z, grp, keep, nk, &p, &e), &e);
                float *a = logits(z, 64), *b = logits(p, 64);
                /* Convs reduce over input channels in order, so removing zero
                 * terms changes no rounding: bit-identical.  The dense kernel
                 * sums a long dot product in 16 vector lanes, and removing
                 * features moves terms between lanes: there the sums may
                 * differ in the last bits only (a slicing error would move
                 * logits by orders of magnitude more). */
                int dense = 0;
                for (int k = 0; k < grp->n_m; k++) {
                    const nad_node *cn = &z->nodes[grp->m[k].node];
                    const nad_tensor *cx = &z->tensors[cn->in[0]];
                    /* (the engine runs 1x1 convs on 1x1 maps as a dense layer) */
                    dense |= grp->m[k].kind == NAD_MEM_INPUTS &&
                             (cn->op != NAD_OP_CONV || (cx->dims[2] == 1 && cx->dims[3] == 1));
                }
                double range = 0, worst = 0;
                for (int i = 0; i < 640; i++) {
                    range = fmax(range, fabs(a[i]));
                    worst = fmax(worst, fabs((double)a[i] - b[i]));
                }
                if (!dense && memcmp(a, b, 640 * sizeof(float)))
                    fail_msg("%s op%d group %s: logits differ (max %.3g)", FIXTURES[f], op, grp->name, worst);
                if (worst > 2e-6 * range)
                    fail_msg("%s op%d group %s: logits differ by %.3g of %.3g", FIXTURES[f], op, grp->name, worst,
                             range);
                if (dense)
                    printf("  %s op%d %s: dense consumer, max |diff| %.3g of logit range %.3g\n", FIXTURES[f], op,
                           grp->name, worst, range);
                free(a);
                free(b);
                free(keep);
                nad_graph_free(p);
                nad_graph_free(z);
            }
            nad_groups_free(gs);
            nad_graph_free(g);
        }
    (void)state;
}

/* Counts prunable and frozen groups and checks which layers are tied. */
static void groups_of_fixtures(void **state)
{
    /* name, prunable groups, frozen groups */
    static const struct {
        const char *name;
        int prunable, frozen;
    } want[] = {{"cnn_bn", 2, 1}, {"resnet", 4, 1}, {"mobilenetv2", 7, 1}, {"concat", 7, 1}, {"mlp_pool", 2, 1}};
    for (int f = 0; f < N_FIX; f++) {
        nad_graph *g = load(want[f].name, 13, 0);
        nad_groups *gs;
        nad_err e;
        ok(nad_groups_find(g, &gs, &e), &e);
        int frozen = 0;
        for (int q = 0; q < gs->n; q++) {
            frozen += gs->g[q].frozen;
            if (gs->g[q].frozen)
                assert_non_null(strstr(gs->g[q].reason, "network output"));
        }
        assert_int_equal(nad_groups_prunable(gs), want[f].prunable);
        assert_int_equal(frozen, want[f].frozen);
        nad_groups_free(gs);
        nad_graph_free(g);
    }
    /* resnet: the stem and block1.conv2 are tied by the identity residual. */
    nad_graph *g = load("resnet", 13, 0);
    nad_groups *gs;
    nad_err e;
    ok(nad_groups_find(g, &gs, &e), &e);
    int q = nad_groups_find_name(gs, "/stem/Conv"), seen = 0;
    assert_true(q >= 0);
    for (int k = 0; k < gs->g[q].n_m; k++)
        seen |= gs->g[q].m[k].kind == NAD_MEM_FILTERS && !strcmp(g->nodes[gs->g[q].m[k].node].name,
                                                                 "/block1/conv2/Conv");
    assert_true(seen);
    nad_groups_free(gs);
    nad_graph_free(g);
    /* mobilenetv2: the squeeze-excite fc2 joins the expand conv's group. */
    g = load("mobilenetv2", 13, 0);
    ok(nad_groups_find(g, &gs, &e), &e);
    q = nad_groups_find_name(gs, "/blocks/blocks.1/body/body.0/Conv");
    assert_true(q >= 0);
    seen = 0;
    for (int k = 0; k < gs->g[q].n_m; k++)
        seen |= gs->g[q].m[k].kind == NAD_MEM_FILTERS &&
                strstr(g->nodes[gs->g[q].m[k].node].name, "fc2") != NULL;
    assert_true(seen);
    nad_groups_free(gs);
    nad_graph_free(g);
    (void)state;
}

/* Pruned networks with BN kept still run, save and load with the same logits. */
static void pruned_graphs_round_trip(void **state)
{
    const char *dir = tu_tmpdir();
    for (int f = 0; f < N_FIX; f++) {
        nad_graph *g = load(FIXTURES[f], 13, 0);
        nad_groups *gs;
        nad_err e;
        ok(nad_groups_find(g, &gs, &e), &e);
        for (int q = 0; q < gs->n; q++) {
            const nad_group *grp = &gs->g[q];
            if (grp->frozen || grp->channels < 2)
                continue;
            double *score = malloc((size_t)grp->channels * sizeof *score);
            int nk = grp->channels / 2, *keep = malloc((size_t)nk * sizeof *keep);
            ok(nad_rank_channels(g, grp, NAD_RANK_L2, score, &e), &e);
            nad_rank_keep(score, grp->channels, nk, keep);
            nad_graph *p;
            ok(nad_shrink(g, grp, keep, nk, &p, &e), &e);
            char path[512];
            snprintf(path, sizeof path, "%s/%s_%d.onnx", dir, FIXTURES[f], q);
            ok(nad_graph_save_onnx(p, path, &e), &e);
            nad_graph *r;
            ok(nad_graph_load_onnx(path, 0, &r, &e), &e);
            float *a = logits(p, 8), *b = logits(r, 8);
            assert_memory_equal(a, b, 80 * sizeof(float));
            /* The group now has nk channels in the reloaded graph. */
            nad_groups *rs;
            ok(nad_groups_find(r, &rs, &e), &e);
            int rq = nad_groups_find_name(rs, grp->name);
            assert_true(rq >= 0);
            assert_int_equal(rs->g[rq].channels, nk);
            nad_groups_free(rs);
            free(a);
            free(b);
            nad_graph_free(r);
            nad_graph_free(p);
            free(keep);
            free(score);
        }
        nad_groups_free(gs);
        nad_graph_free(g);
    }
    (void)state;
}

/* Ranking keeps the largest filters; ties go to the lower index. */
static void rank_keeps_largest(void **state)
{
    double s[6] = {1, 5, 3, 5, 0, 2};
    int keep[3];
    nad_rank_keep(s, 6, 3, keep);
    assert_int_equal(keep[0], 1);
    assert_int_equal(keep[1], 2);
    assert_int_equal(keep[2], 3);
    double t[3] = {NAN, 1, 2};
    nad_rank_keep(t, 3, 2, keep);
    assert_int_equal(keep[0], 1);
    assert_int_equal(keep[1], 2);
    (void)state;
}

/* Bad keep lists are refused with a message, not a crash. */
static void shrink_rejects_bad_keep(void **state)
{
    nad_graph *g = load("cnn_bn", 13, 1);
    nad_groups *gs;
    nad_err e;
    ok(nad_groups_find(g, &gs, &e), &e);
    nad_graph *p = NULL;
    int dup[2] = {1, 1}, out[1] = {99};
    assert_int_equal(nad_shrink(g, &gs->g[0], dup, 2, &p, &e), NAD_EINVAL);
    assert_null(p);
    assert_int_equal(nad_shrink(g, &gs->g[0], out, 1, &p, &e), NAD_EINVAL);
    assert_int_equal(nad_shrink(g, &gs->g[0], out, 0, &p, &e), NAD_EINVAL);
    nad_groups_free(gs);
    nad_graph_free(g);
    (void)state;
}

/* Hand-built graphs: a grouped conv and a channel-mixing reshape freeze
 * their groups with a reason naming the node; a Reshape that states the
 * channel count explicitly shrinks with the group. */
static void frozen_reasons_and_reshape(void **state)
{
    nad_graph *g = nad_graph_new();
    int x = input(g, "x", 4, D(4, 1, 4, 6, 6));
    nad_attr c = {.conv = {.kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .group = 1}};
    int w1 = nad_graph_add_tensor(g, "w1", NAD_DT_FLOAT, NAD_TK_WEIGHT, 4, D(4, 8, 4, 1, 1));
    int w2 = nad_graph_add_tensor(g, "w2", NAD_DT_FLOAT, NAD_TK_WEIGHT, 4, D(4, 8, 4, 1, 1));
    nad_err e;
    ok(nad_tensor_alloc(&g->tensors[w1], &e), &e);
    ok(nad_tensor_alloc(&g->tensors[w2], &e), &e);
    int a = node2(g, "conv_a", NAD_OP_CONV, &c, x, w1);
    nad_attr gc = c;
    gc.conv.group = 2;
    int w3 = nad_graph_add_tensor(g, "w3", NAD_DT_FLOAT, NAD_TK_WEIGHT, 4, D(4, 8, 4, 1, 1));
    ok(nad_tensor_alloc(&g->tensors[w3], &e), &e);
    int b = node2(g, "grouped", NAD_OP_CONV, &gc, a, w3);
    int d = node2(g, "conv_d", NAD_OP_CONV, &c, x, w2);
    /* [N,8,6,6] -> explicit [N,8,36] -> Flatten -> ... */
    int tgt = nad_graph_add_tensor(g, "tgt", NAD_DT_INT64, NAD_TK_CONST, 1, D(1, 3));
    ok(nad_tensor_alloc(&g->tensors[tgt], &e), &e);
    int64_t *tv = nad_tensor_i64(&g->tensors[tgt]);
    tv[0] = 0, tv[1] = 8, tv[2] = 36;
    int r = node2(g, "reshape", NAD_OP_RESHAPE, NULL, d, tgt);
    nad_attr fl = {.axis = {.axis = 1}};
    int f = node1(g, "flat", NAD_OP_FLATTEN, &fl, r);
    int y = node2(g, "sum", NAD_OP_ADD, NULL, b, b);
    mark_output(g, y);
    mark_output(g, f);
    ok(nad_graph_infer_shapes(g, 2, &e), &e);
    nad_groups *gs;
    ok(nad_groups_find(g, &gs, &e), &e);
    int qa = nad_groups_find_name(gs, "conv_a"), qd = nad_groups_find_name(gs, "conv_d");
    assert_true(qa >= 0 && qd >= 0);
    assert_true(gs->g[qa].frozen);
    assert_non_null(strstr(gs->g[qa].reason, "grouped"));
    assert_non_null(strstr(gs->g[qa].reason, "'grouped'"));
    /* conv_d's channels reach the output through Flatten: frozen as output. */
    assert_true(gs->g[qd].frozen);
    int has_reshape = 0;
    for (int k = 0; k < gs->g[qd].n_m; k++)
        has_reshape |= gs->g[qd].m[k].kind == NAD_MEM_RESHAPE;
    assert_true(has_reshape);
    /* Shrinking it anyway (the member list is complete) fixes the target. */
    int keep[3] = {0, 3, 7};
    nad_graph *p;
    ok(nad_shrink(g, &gs->g[qd], keep, 3, &p, &e), &e);
    assert_int_equal(nad_tensor_i64(&p->tensors[tgt])[1], 3);
    assert_int_equal(p->tensors[f].dims[1], 3 * 36);
    assert_int_equal(nad_tensor_i64(&g->tensors[tgt])[1], 8); /* the source is untouched */
    nad_graph_free(p);
    nad_groups_free(gs);
    nad_graph_free(g);
    (void)state;
}


/* The reduction search's measure here: the network's parameters. */
static nad_status params_of(void *ctx, const nad_graph *g, double *value, nad_err *e)
{
    (*(int *)ctx)++;
    *value = 0;
    for (int i = 0; i < nad_graph_layer_count(g); i++) {
        nad_layer_info li;
        nad_status rc = nad_graph_layer_info(g, i, &li, e);
        if (rc)
            return rc;
        *value += (double)li.params;
    }
    return NAD_OK;
}

/* The search returns the largest allowed count meeting the target (checked
 * against trying every count), in about log2(channels) measurements. */
static void reduce_finds_largest_count(void **state)
{
    nad_graph *g = load("resnet", 13, 1);
    nad_groups *gs;
    nad_err e;
    ok(nad_groups_find(g, &gs, &e), &e);
    for (int q = 0; q < gs->n; q++) {
        const nad_group *grp = &gs->g[q];
        if (grp->frozen)
            continue;
        double *score = malloc((size_t)grp->channels * sizeof *score), full;
        int calls = 0;
        ok(nad_rank_channels(g, grp, NAD_RANK_L2, score, &e), &e);
        ok(params_of(&calls, g, &full, &e), &e);
        for (int mult = 1; mult <= 4; mult += 3)
            for (double frac = 0.80; frac < 1.0; frac += 0.05) {
                nad_reduce_result r;
                calls = 0;
                ok(nad_reduce_search(g, grp, score, mult, params_of, &calls, frac * full, &r, &e), &e);
                int want = 0;
                for (int n = 1; n < grp->channels; n++) {
                    if (mult < grp->channels && n % mult)
                        continue;
                    int *keep = malloc((size_t)n * sizeof *keep), c2 = 0;
                    nad_rank_keep(score, grp->channels, n, keep);
                    nad_graph *p;
                    double v;
                    ok(nad_shrink(g, grp, keep, n, &p, &e), &e);
                    ok(params_of(&c2, p, &v, &e), &e);
                    if (v <= frac * full)
                        want = n;
                    nad_graph_free(p);
                    free(keep);
                }
                assert_int_equal(r.n_keep, want);
                assert_true(calls <= 2 + (int)ceil(log2((double)grp->channels)));
                if (want) {
                    assert_non_null(r.graph);
                    assert_true(r.value <= frac * full);
                }
                nad_graph_free(r.graph);
            }
        free(score);
    }
    nad_groups_free(gs);
    nad_graph_free(g);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(groups_of_fixtures),       cmocka_unit_test(zero_filters_prune_exactly),
        cmocka_unit_test(pruned_graphs_round_trip), cmocka_unit_test(rank_keeps_largest),
        cmocka_unit_test(shrink_rejects_bad_keep),  cmocka_unit_test(frozen_reasons_and_reshape), cmocka_unit_test(reduce_finds_largest_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
