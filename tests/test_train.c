/*
 * Training on whole graphs: the training tape's inference forward against
 * PyTorch's logits for every fixture, whole-graph gradients against finite
 * differences, fine-tuning improves held-out loss, bit-identical reruns,
 * copy-on-write of shared weights, and `nadapt train` end to end.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "graph/graph.h"
#include "nadapt/data.h"
#include "nadapt/engine.h"
#include "nadapt/train.h"
#include "testutil.h"
#include "train/grad.h"
#include "train/tape.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

#if defined(__SANITIZE_ADDRESS__)
#define SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOW_BUILD 1
#endif
#endif
#ifndef SLOW_BUILD
#define SLOW_BUILD 0
#endif

static nad_dataset *train_set, *test_set;

static int setup(void **state)
{
    (void)state;
    nad_err e;
    if (nad_dataset_load(FMNIST, NAD_SPLIT_TRAIN, &train_set, &e) ||
        nad_dataset_load(FMNIST, NAD_SPLIT_TEST, &test_set, &e)) {
        fprintf(stderr, "cannot load Fashion-MNIST: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nad_dataset_free(train_set);
    nad_dataset_free(test_set);
    return 0;
}

static nad_graph *load(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "examples/fixtures/%s.op13.onnx", name);
    nad_graph *g = NULL;
    nad_err e;
    if (nad_graph_load_onnx(tu_src(rel), 0, &g, &e))
        fail_msg("%s: %s", rel, e.msg);
    return g;
}

static void fill_input(nad_tape *t, const nad_dataset *d, int first, int n)
{
    nad_err e;
    float mean = 0.2860f, std = 0.3530f;
    assert_int_equal(nad_dataset_batch(d, NULL, first, n, &mean, &std, 1, nad_tape_input(t), &e), NAD_OK);
}

/* The tape's inference forward (BN unfused, running stats) reproduces the
 * logits torch wrote for the first 64 test images, for every fixture. */
static void test_forward_matches_torch(void **state)
{
    (void)state;
    const char *names[] = {"cnn_bn", "resnet", "mobilenetv2", "concat", "mlp_pool"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        nad_graph *g = load(names[k]);
        nad_tape *t;
        nad_err e;
        if (nad_tape_create(g, 64, &t, &e))
            fail_msg("%s: %s", names[k], e.msg);
        fill_input(t, test_set, 0, 64);
        assert_int_equal(nad_tape_forward(t, 64, 0, NULL, &e), NAD_OK);
        char rel[128];
        snprintf(rel, sizeof rel, "examples/fixtures/%s.logits64.f32", names[k]);
        size_t len;
        float *ref = tu_read_file(tu_src(rel), &len);
        assert_non_null(ref);
        assert_int_equal(len, 64 * 10 * sizeof(float));
        const float *y = nad_tape_logits(t);
        double worst = 0.0;
        for (int i = 0; i < 640; i++)
            worst = fmax(worst, fabs((double)y[i] - ref[i]));
        if (worst > 2e-3)
            fail_msg("%s: logits differ from torch by %g", names[k], worst);
        free(ref);
        nad_tape_destroy(t);
        nad_graph_free(g);
    }
}

/* Loss of the tape in training mode on its current input (batch n). */
static double tape_loss(nad_tape *t, int n, const int32_t *labels, float *dlogits)
{
    nad_err e;
    nad_rng r;
    nad_rng_seed(&r, 1);
    assert_int_equal(nad_tape_forward(t, n, 1, &r, &e), NAD_OK);
    return nad_tr_softmax_xent(nad_tape_logits(t), labels, n, nad_tape_classes(t), dlogits, NULL);
}

/*
 * Whole-graph gradient check: for a few entries of every trainable tensor,
 * dLoss/dw from the tape against central differences of the training-mode
 * loss (BN on batch statistics).  Covers conv (grouped, depthwise), BN, SE
 * (GAP, Mul broadcast, HardSigmoid/Sigmoid), Clip, HardSwish, Concat, Gemm.
 */
static void test_graph_gradients(void **state)
{
    (void)state;
    const char *names[] = {"mobilenetv2", "concat", "cnn_bn", "resnet", "mlp_pool"};
    const int n = 6;
    int32_t labels[6];
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        nad_graph *g = load(names[k]);
        nad_tape *t;
        nad_err e;
        if (nad_tape_create(g, n, &t, &e))
            fail_msg("%s: %s", names[k], e.msg);
        fill_input(t, train_set, 100, n);
        for (int i = 0; i < n; i++)
            labels[i] = train_set->labels[100 + i];
        tape_loss(t, n, labels, nad_tape_logits_grad(t));
        assert_int_equal(nad_tape_backward(t, n, &e), NAD_OK);
        int checked = 0, bad = 0, skipped = 0;
        /* the exporter may share one initializer between equal tensors:
         * give each its own blob, so perturbing one leaves the others */
        for (int ti = 0; ti < g->n_tensors; ti++)
            if (g->tensors[ti].kind == NAD_TK_WEIGHT && g->tensors[ti].blob)
                assert_int_equal(nad_tensor_make_writable(&g->tensors[ti], &e), NAD_OK);
        for (int p = 0; p < nad_tape_n_params(t); p++) {
            nad_tensor *w = &g->tensors[nad_tape_param_tensor(t, p)];
            const float *gr = nad_tape_param_grad(t, p);
            int64_t numel = nad_tensor_numel(w);
            /* the entry with the largest gradient plus two spread ones */
            int64_t pick[3] = {0, numel / 3, (2 * numel) / 3};
            for (int64_t j = 0; j < numel; j++)
                if (fabsf(gr[j]) > fabsf(gr[pick[0]]))
                    pick[0] = j;
            for (int q = 0; q < 3; q++) {
                float *wp = nad_tensor_f32(w) + pick[q];
                float v = *wp;
                /* central differences at three step sizes, the median taken:
                 * a ReLU/Clip/max-pool switch inside one step spoils at most
                 * that one; points where the three scatter widely are kinks
                 * and say nothing, so they are skipped.  The bar (15%) is loose
                 * for the deep ReLU6/HardSwish nets whose differences stay noisy,
                 * but wiring errors (a missed or doubled path) are factor-sized. */
                double num[3];
                for (int r = 0; r < 3; r++) {
                    float eps = (r == 0 ? 3e-3f : r == 1 ? 1e-3f : 3e-4f) * fmaxf(1.0f, fabsf(v));
                    *wp = v + eps;
                    double lp = tape_loss(t, n, labels, NULL);
                    *wp = v - eps;
                    double lm = tape_loss(t, n, labels, NULL);
                    *wp = v;
                    num[r] = (lp - lm) / ((double)(v + eps) - (double)(v - eps));
                }
                double lo = fmin(num[0], fmin(num[1], num[2])), hi = fmax(num[0], fmax(num[1], num[2]));
                double med = num[0] + num[1] + num[2] - lo - hi;
                if (hi - lo > 0.2 * fabs(med) + 2e-3) {
                    skipped++;
                    continue;
                }
                double ana = gr[pick[q]];
                checked++;
                if (fabs(med - ana) > 0.15 * fabs(med) + 2e-3) {
                    bad++;
                    fprintf(stderr, "%s: %s[%lld]: analytic %.6g numeric %.6g\n", names[k], w->name,
                            (long long)pick[q], ana, med);
                }
            }
        }
        if (bad || skipped > checked / 3)
            fail_msg("%s: %d of %d weight gradients disagree with finite differences (%d skipped)", names[k], bad,
                     checked, skipped);
        nad_tape_destroy(t);
        nad_graph_free(g);
    }
}

static uint64_t weights_hash(const nad_graph *g)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < g->n_tensors; i++) {
        const nad_tensor *t = &g->tensors[i];
        if (t->kind != NAD_TK_WEIGHT || !t->blob)
            continue;
        const unsigned char *p = t->blob->data;
        for (size_t b = 0; b < t->blob->bytes; b++)
            h = (h ^ p[b]) * 1099511628211ull;
    }
    return h;
}

/* Fine-tuning a fixture for a few hundred steps lowers its held-out loss;
 * the same seed gives bit-identical weights, another seed does not; the
 * original graph a copy shares blobs with is left untouched. */
static void test_finetune(void **state)
{
    (void)state;
    nad_err e;
    int64_t *tr, *ho, ntr;
    assert_int_equal(nad_train_split(train_set->n, 2000, 7, &tr, &ntr, &ho, &e), NAD_OK);
    nad_graph *orig = load("cnn_bn");
    uint64_t h_orig = weights_hash(orig);
    nad_train_config cfg;
    nad_train_config_defaults(&cfg);
    cfg.lr = 0.005;
    cfg.schedule = NAD_LR_COSINE;
    cfg.steps = SLOW_BUILD ? 40 : 200;
    cfg.batch = 64;
    cfg.seed = 11;
    nad_eval_result before, after;
    nad_graph *g = nad_graph_copy(orig);
    assert_non_null(g);
    assert_int_equal(nad_train_evaluate(g, train_set, ho, 2000, &cfg, &before, &e), NAD_OK);
    nad_train_report rep;
    if (nad_finetune(g, train_set, tr, ntr, &cfg, &rep, &e))
        fail_msg("finetune: %s", e.msg);
    assert_int_equal(rep.steps, cfg.steps);
    assert_int_equal(nad_train_evaluate(g, train_set, ho, 2000, &cfg, &after, &e), NAD_OK);
    fprintf(stderr, "cnn_bn held-out: loss %.4f -> %.4f, top-1 %.4f -> %.4f (%lld steps, %.0f img/s)\n", before.loss,
            after.loss, before.top1, after.top1, (long long)rep.steps, rep.images_per_s);
    if (!SLOW_BUILD)
        assert_true(after.loss < before.loss - 0.01);
    assert_int_equal(weights_hash(orig), h_orig); /* copy-on-write kept the original */
    uint64_t h1 = weights_hash(g);
    assert_true(h1 != h_orig);

    /* same seed, same threads: bit-identical weights (2 threads: the
     * parallel loops and a multi-threaded BLAS take part) */
    cfg.steps = SLOW_BUILD ? 5 : 10;
    cfg.batch = 32;
    cfg.threads = 2;
    nad_graph *a = nad_graph_copy(orig), *b = nad_graph_copy(orig), *c = nad_graph_copy(orig);
    assert_int_equal(nad_finetune(a, train_set, tr, ntr, &cfg, NULL, &e), NAD_OK);
    assert_int_equal(nad_finetune(b, train_set, tr, ntr, &cfg, NULL, &e), NAD_OK);
    cfg.seed = 12;
    assert_int_equal(nad_finetune(c, train_set, tr, ntr, &cfg, NULL, &e), NAD_OK);
    assert_true(weights_hash(a) == weights_hash(b));
    assert_true(weights_hash(a) != weights_hash(c));
    nad_graph_free(a);
    nad_graph_free(b);
    nad_graph_free(c);
    nad_graph_free(g);
    nad_graph_free(orig);
    free(tr);
    free(ho);
}

/* From scratch (--init equivalent): a short run on mlp_pool (Dropout kept out
 * by the loader) learns: held-out loss far below chance (ln 10 = 2.30). */
static void test_from_scratch_learns(void **state)
{
    (void)state;
    nad_err e;
    int64_t *tr, *ho, ntr;
    assert_int_equal(nad_train_split(train_set->n, 1000, 3, &tr, &ntr, &ho, &e), NAD_OK);
    nad_graph *g = load("resnet");
    assert_int_equal(nad_train_init_weights(g, NAD_INIT_HE, 5, &e), NAD_OK);
    nad_train_config cfg;
    nad_train_config_defaults(&cfg);
    cfg.lr = 0.05;
    cfg.schedule = NAD_LR_ONECYCLE;
    cfg.steps = SLOW_BUILD ? 20 : 150;
    cfg.batch = 32;
    nad_eval_result r0, r1;
    assert_int_equal(nad_train_evaluate(g, train_set, ho, 1000, &cfg, &r0, &e), NAD_OK);
    assert_int_equal(nad_finetune(g, train_set, tr, ntr, &cfg, NULL, &e), NAD_OK);
    assert_int_equal(nad_train_evaluate(g, train_set, ho, 1000, &cfg, &r1, &e), NAD_OK);
    fprintf(stderr, "resnet from scratch: held-out loss %.3f -> %.3f, top-1 %.3f -> %.3f\n", r0.loss, r1.loss, r0.top1,
            r1.top1);
    if (!SLOW_BUILD) {
        assert_true(r1.loss < 1.2);
        assert_true(r1.top1 > 0.55);
    }
    nad_graph_free(g);
    free(tr);
    free(ho);
}

static void test_bad_config(void **state)
{
    (void)state;
    nad_err e;
    nad_graph *g = load("cnn_bn");
    nad_train_config cfg;
    nad_train_config_defaults(&cfg);
    int64_t idx[4] = {0, 1, 2, 3};
    cfg.lr = -1;
    assert_int_equal(nad_finetune(g, train_set, idx, 4, &cfg, NULL, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "learning rate"));
    nad_train_config_defaults(&cfg);
    cfg.momentum = 1.5;
    assert_int_equal(nad_finetune(g, train_set, idx, 4, &cfg, NULL, &e), NAD_EINVAL);
    nad_train_config_defaults(&cfg);
    idx[2] = train_set->n;
    assert_int_equal(nad_finetune(g, train_set, idx, 4, &cfg, NULL, &e), NAD_EINVAL);
    nad_graph_free(g);
}

static int stop_at_three(const nad_train_progress *p, void *user)
{
    int *calls = user;
    (*calls)++;
    assert_true(p->step >= 1 && p->step <= p->total_steps);
    assert_true(p->lr > 0.0 && p->loss > 0.0);
    return p->step >= 3;
}

/* A graph loaded with BN folded trains too (what the engine loads by
 * default); the progress callback sees every step and can stop the run. */
static void test_progress_and_folded_bn(void **state)
{
    (void)state;
    nad_err e;
    nad_graph *g = NULL;
    assert_int_equal(nad_graph_load_onnx(tu_src("examples/fixtures/cnn_bn.op13.onnx"), 1, &g, &e), NAD_OK);
    for (int i = 0; i < g->n_nodes; i++)
        assert_int_not_equal(g->nodes[i].op, NAD_OP_BATCHNORM);
    nad_train_config cfg;
    nad_train_config_defaults(&cfg);
    cfg.steps = 10;
    cfg.batch = 16;
    cfg.crop_pad = 2;
    cfg.flip = 1;
    cfg.nesterov = 1;
    cfg.schedule = NAD_LR_STEP;
    cfg.step_size = 2;
    int calls = 0;
    cfg.progress = stop_at_three;
    cfg.progress_user = &calls;
    cfg.progress_every = 1;
    nad_train_report rep;
    assert_int_equal(nad_finetune(g, train_set, NULL, 5000, &cfg, &rep, &e), NAD_OK);
    assert_int_equal(rep.steps, 3);
    assert_int_equal(rep.stopped, 1);
    assert_int_equal(calls, 3);
    assert_int_equal(rep.images, 48);
    nad_graph_free(g);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* `nadapt train` end to end: writes an ONNX file the engine loads (BN kept,
 * running stats updated), prints a summary; errors exit 1 without output. */
static void test_cli_train(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char out[4096], err[4096], args[1024], path[512];
    snprintf(path, sizeof path, "%s/tuned.onnx", dir);
    snprintf(args, sizeof args, "train '%s' --data %s --out '%s' --steps %d --batch 32 --lr 0.01 --holdout 500 --seed 3",
             tu_src("examples/fixtures/cnn_bn.op13.onnx"), FMNIST, path, SLOW_BUILD ? 3 : 20);
    int rc = tu_run_cli(args, out, sizeof out, err, sizeof err);
    if (rc != 0)
        fail_msg("nadapt train failed (%d): %s", rc, err);
    assert_non_null(strstr(out, "held-out"));
    nad_graph *g = NULL, *raw = NULL;
    nad_err e;
    assert_int_equal(nad_graph_load_onnx(path, 1, &g, &e), NAD_OK);
    assert_int_equal(nad_graph_read_onnx(path, &raw, &e), NAD_OK);
    int n_bn = 0;
    for (int i = 0; i < raw->n_nodes; i++)
        n_bn += raw->nodes[i].op == NAD_OP_BATCHNORM;
    assert_int_equal(n_bn, 2);
    nad_plan *p;
    assert_int_equal(nad_plan_create(g, 8, &p, &e), NAD_OK);
    nad_plan_destroy(p);
    nad_graph_free(g);
    nad_graph_free(raw);

    /* errors: one line, exit 1, no output file */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/bad.onnx", dir);
    snprintf(args, sizeof args, "train '%s' --data /nonexistent --out '%s' --steps 2",
             tu_src("examples/fixtures/cnn_bn.op13.onnx"), bad);
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_int_equal(tu_count_lines(err), 1);
    assert_non_null(strstr(err, "nadapt train:"));
    assert_false(file_exists(bad));
    snprintf(args, sizeof args, "train '%s' --data %s --out '%s' --lr abc", tu_src("examples/fixtures/cnn_bn.op13.onnx"),
             FMNIST, bad);
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_false(file_exists(bad));
    snprintf(args, sizeof args, "train '%s' --data %s --out '%s' --steps 2",
             tu_src("examples/fixtures/bad_unsupported_op.onnx"), FMNIST, bad);
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_false(file_exists(bad));
    assert_int_equal(tu_run_cli("train --help", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "usage"));
    /* a learning rate that blows the weights up: stopped, nothing written */
    snprintf(args, sizeof args, "train '%s' --data '%s' --out '%s' --steps 30 --batch 32 --lr 1e30 --holdout 64",
             tu_src("examples/fixtures/cnn_bn.op13.onnx"), tu_src("examples/fixtures/fmnist_test256"), bad);
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "diverged"));
    assert_int_equal(tu_count_lines(err), 1);
    assert_false(file_exists(bad));
    /* --out that must not be replaced: a device, a read-only file, a missing
     * directory — refused before any training, left as it was */
    const char *outs[] = {"/dev/null", "RO", "/nonexistent-dir/x.onnx"};
    char ro[512];
    snprintf(ro, sizeof ro, "%s/readonly.onnx", dir);
    assert_int_equal(tu_write_file(ro, "keep", 4), 0);
    chmod(ro, 0444);
    for (int k = 0; k < 3; k++) {
        snprintf(args, sizeof args, "train '%s' --data '%s' --out '%s' --steps 2000000",
                 tu_src("examples/fixtures/cnn_bn.op13.onnx"), FMNIST, strcmp(outs[k], "RO") ? outs[k] : ro);
        assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
        assert_int_equal(tu_count_lines(err), 1);
    }
    size_t len;
    char *kept = tu_read_file(ro, &len);
    assert_true(kept && len == 4 && memcmp(kept, "keep", 4) == 0);
    free(kept);
    struct stat st;
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_torch), cmocka_unit_test(test_graph_gradients),
        cmocka_unit_test(test_finetune),              cmocka_unit_test(test_from_scratch_learns),
        cmocka_unit_test(test_bad_config),            cmocka_unit_test(test_cli_train),
        cmocka_unit_test(test_progress_and_folded_bn),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
