/*
 * nadapt train — fine-tunes an ONNX classifier with SGD (or trains it from
 * scratch with --init) and writes the result as ONNX.  A thin shell over
 * nad_finetune(): parse options, load, split off a held-out set, train,
 * report, save.  BatchNorm stays unfused, so the written model keeps its BN
 * nodes with the updated running statistics.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "graph/graph.h"
#include "nadapt/data.h"
#include "nadapt/train.h"

static const char train_usage[] =
    "usage: nadapt train MODEL.onnx --data DIR --out OUT.onnx [options]\n"
    "\n"
    "Fine-tunes MODEL with SGD on the training split of DIR (softmax cross-entropy)\n"
    "and writes OUT.onnx (BatchNormalization kept, running statistics updated).\n"
    "\n"
    "  --epochs E          passes over the training images (default 1)\n"
    "  --steps S           run exactly S mini-batch steps instead of epochs\n"
    "  --lr LR             learning rate; the peak for onecycle (default 0.01)\n"
    "  --momentum M        SGD momentum (default 0.9)\n"
    "  --nesterov          Nesterov momentum\n"
    "  --weight-decay WD   L2 on every trainable tensor incl. biases and BN (default 5e-4)\n"
    "  --schedule S        constant | step | cosine | onecycle (default constant)\n"
    "  --gamma G           step schedule: factor per period (default 0.1)\n"
    "  --step-size N       step schedule: period in steps (default 1000)\n"
    "  --batch N           images per step (default 128)\n"
    "  --seed S            shuffling, augmentation, dropout and --init (default 1)\n"
    "  --holdout K         held-out images carved from the training split (default 5000;\n"
    "                      0: none); the test split is never used for training\n"
    "  --holdout-seed S    seed of the held-out split (default 1)\n"
    "  --mean M[,M..]      normalisation mean per channel (default 0.2860)\n"
    "  --std S[,S..]       normalisation std per channel (default 0.3530)\n"
    "  --flip              random horizontal flips\n"
    "  --crop PAD          random crops after zero padding by PAD pixels\n"
    "  --threads T         BLAS threads (default 1)\n"
    "  --init              re-initialise (He normal, zero biases, BN 1/0) and train from scratch\n"
    "  --init-scheme S     he (default) | torch: PyTorch's default layer init, to follow a torch recipe\n"
    "  --test              also report loss/top-1 on the test split (evaluation only)\n";

/* Progress line on a terminal: rewritten in place with \r. */
static int show_progress(const nad_train_progress *p, void *user)
{
    (void)user;
    fprintf(stderr, "\rstep %lld/%lld  epoch %d  loss %.4f  lr %.4g  %.0f img/s  ETA %.0fs   ", (long long)p->step,
            (long long)p->total_steps, p->epoch + 1, p->loss, p->lr, p->images_per_s, p->eta_s);
    if (p->step == p->total_steps)
        fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

/* Matches option name with a value (--name V or --name=V); sets *bad when the
 * value is missing. */
static const char *opt(int argc, char **argv, int *i, const char *name, int *bad)
{
    int missing = 0;
    const char *v = cli_opt(argc, argv, i, name, &missing);
    if (missing)
        *bad = 1;
    return v;
}

int cmd_train(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *out = NULL, *v;
    nad_train_config cfg;
    long lv;
    double mean_d[4] = {0.2860}, std_d[4] = {0.3530};
    int n_mean = 0, n_std = 0;
    long holdout = 5000, holdout_seed = 1;
    int init = 0, eval_test = 0, rc = 1;
    nad_init_scheme scheme = NAD_INIT_HE;
    nad_graph *g = NULL;
    nad_dataset *train = NULL, *test = NULL;
    int64_t *tr_idx = NULL, *ho_idx = NULL, n_tr = 0;
    nad_err e;

    nad_train_config_defaults(&cfg);
    for (int i = 1; i < argc; i++) {
        int bad = 0;
        if (cli_is_help(argv[i])) {
            fputs(train_usage, stdout);
            return 0;
        } else if ((v = opt(argc, argv, &i, "--data", &bad))) {
            data = v;
        } else if ((v = opt(argc, argv, &i, "--out", &bad))) {
            out = v;
        } else if ((v = opt(argc, argv, &i, "--epochs", &bad))) {
            if (cli_parse_int(v, 1, 100000, &lv))
                return cli_cmd_fail("train", "--epochs wants an integer in 1..100000, not '%s'", v);
            cfg.epochs = (int)lv;
            cfg.steps = 0;
        } else if ((v = opt(argc, argv, &i, "--steps", &bad))) {
            if (cli_parse_int(v, 1, 1000000000L, &lv))
                return cli_cmd_fail("train", "--steps wants a positive integer, not '%s'", v);
            cfg.steps = lv;
        } else if ((v = opt(argc, argv, &i, "--lr", &bad))) {
            if (cli_parse_double(v, &cfg.lr) || !(cfg.lr > 0))
                return cli_cmd_fail("train", "--lr wants a positive number, not '%s'", v);
        } else if ((v = opt(argc, argv, &i, "--momentum", &bad))) {
            if (cli_parse_double(v, &cfg.momentum))
                return cli_cmd_fail("train", "--momentum wants a number, not '%s'", v);
        } else if ((v = opt(argc, argv, &i, "--weight-decay", &bad))) {
            if (cli_parse_double(v, &cfg.weight_decay))
                return cli_cmd_fail("train", "--weight-decay wants a number, not '%s'", v);
        } else if ((v = opt(argc, argv, &i, "--schedule", &bad))) {
            if (!strcmp(v, "constant"))
                cfg.schedule = NAD_LR_CONSTANT;
            else if (!strcmp(v, "step"))
                cfg.schedule = NAD_LR_STEP;
            else if (!strcmp(v, "cosine"))
                cfg.schedule = NAD_LR_COSINE;
            else if (!strcmp(v, "onecycle"))
                cfg.schedule = NAD_LR_ONECYCLE;
            else
                return cli_cmd_fail("train", "--schedule wants constant, step, cosine or onecycle, not '%s'", v);
        } else if ((v = opt(argc, argv, &i, "--gamma", &bad))) {
            if (cli_parse_double(v, &cfg.step_gamma))
                return cli_cmd_fail("train", "--gamma wants a number, not '%s'", v);
        } else if ((v = opt(argc, argv, &i, "--step-size", &bad))) {
            if (cli_parse_int(v, 1, 1000000000L, &lv))
                return cli_cmd_fail("train", "--step-size wants a positive integer, not '%s'", v);
            cfg.step_size = lv;
        } else if ((v = opt(argc, argv, &i, "--batch", &bad))) {
            if (cli_parse_int(v, 1, 65536, &lv))
                return cli_cmd_fail("train", "--batch wants an integer in 1..65536, not '%s'", v);
            cfg.batch = (int)lv;
        } else if ((v = opt(argc, argv, &i, "--seed", &bad))) {
            if (cli_parse_int(v, 0, 2147483647L, &lv))
                return cli_cmd_fail("train", "--seed wants a non-negative integer, not '%s'", v);
            cfg.seed = (uint64_t)lv;
        } else if ((v = opt(argc, argv, &i, "--holdout", &bad))) {
            if (cli_parse_int(v, 0, 100000000L, &holdout))
                return cli_cmd_fail("train", "--holdout wants a non-negative integer, not '%s'", v);
        } else if ((v = opt(argc, argv, &i, "--holdout-seed", &bad))) {
            if (cli_parse_int(v, 0, 2147483647L, &holdout_seed))
                return cli_cmd_fail("train", "--holdout-seed wants a non-negative integer, not '%s'", v);
        } else if ((v = opt(argc, argv, &i, "--mean", &bad))) {
            if ((n_mean = cli_parse_doubles(v, mean_d, 4)) < 1)
                return cli_cmd_fail("train", "--mean wants 1 to 4 comma-separated numbers, not '%s'", v);
        } else if ((v = opt(argc, argv, &i, "--std", &bad))) {
            if ((n_std = cli_parse_doubles(v, std_d, 4)) < 1)
                return cli_cmd_fail("train", "--std wants 1 to 4 comma-separated numbers, not '%s'", v);
        } else if ((v = opt(argc, argv, &i, "--init-scheme", &bad))) {
            if (!strcmp(v, "he"))
                scheme = NAD_INIT_HE;
            else if (!strcmp(v, "torch"))
                scheme = NAD_INIT_TORCH;
            else
                return cli_cmd_fail("train", "--init-scheme wants he or torch, not '%s'", v);
            init = 1;
        } else if ((v = opt(argc, argv, &i, "--crop", &bad))) {
            if (cli_parse_int(v, 0, 64, &lv))
                return cli_cmd_fail("train", "--crop wants an integer in 0..64, not '%s'", v);
            cfg.crop_pad = (int)lv;
        } else if ((v = opt(argc, argv, &i, "--threads", &bad))) {
            if (cli_parse_int(v, 1, 256, &lv))
                return cli_cmd_fail("train", "--threads wants an integer in 1..256, not '%s'", v);
            cfg.threads = (int)lv;
        } else if (bad) {
            return cli_cmd_fail("train", "%s needs a value", argv[i]);
        } else if (!strcmp(argv[i], "--nesterov")) {
            cfg.nesterov = 1;
        } else if (!strcmp(argv[i], "--flip")) {
            cfg.flip = 1;
        } else if (!strcmp(argv[i], "--init")) {
            init = 1;
        } else if (!strcmp(argv[i], "--test")) {
            eval_test = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_cmd_fail("train", "unknown option '%s' (see nadapt train --help)", argv[i]);
        } else if (!model) {
            model = argv[i];
        } else {
            return cli_cmd_fail("train", "unexpected argument '%s'", argv[i]);
        }
        if (bad)
            return cli_cmd_fail("train", "%s needs a value", argv[i]);
    }
    if (!model || !data || !out)
        return cli_cmd_fail("train", "needs MODEL.onnx, --data DIR and --out OUT.onnx (see --help)");
    if (n_mean && n_std && n_mean != n_std)
        return cli_cmd_fail("train", "--mean has %d values but --std has %d", n_mean, n_std);
    if (n_mean || n_std) {
        cfg.n_norm = n_mean > n_std ? n_mean : n_std;
        for (int k = 0; k < cfg.n_norm; k++) {
            cfg.mean[k] = (float)(n_mean ? mean_d[k] : mean_d[0]);
            cfg.std[k] = (float)(n_std ? std_d[k] : std_d[0]);
        }
    }

    if (nad_graph_load_onnx(model, 0, &g, &e))
        goto fail_err;
    if (nad_dataset_load(data, NAD_SPLIT_TRAIN, &train, &e))
        goto fail_err;
    if (holdout >= train->n) {
        cli_cmd_fail("train", "--holdout %ld leaves no training images (the split has %lld)", holdout, (long long)train->n);
        goto done;
    }
    if (nad_train_split(train->n, holdout, (uint64_t)holdout_seed, &tr_idx, &n_tr, &ho_idx, &e))
        goto fail_err;
    if (init && nad_train_init_weights(g, scheme, cfg.seed, &e))
        goto fail_err;
    if (isatty(STDERR_FILENO)) {
        cfg.progress = show_progress;
        cfg.progress_every = 10;
    }
    nad_train_report rep;
    if (nad_finetune(g, train, tr_idx, n_tr, &cfg, &rep, &e))
        goto fail_err;
    nad_eval_result ho = {0}, te = {0};
    if (holdout > 0 && nad_train_evaluate(g, train, ho_idx, holdout, &cfg, &ho, &e))
        goto fail_err;
    if (eval_test) {
        if (nad_dataset_load(data, NAD_SPLIT_TEST, &test, &e) || nad_train_evaluate(g, test, NULL, test->n, &cfg, &te, &e))
            goto fail_err;
    }
    if (nad_graph_save_onnx(g, out, &e))
        goto fail_err;
    printf("trained %lld steps (%lld images) in %.1f s, %.0f images/s; train loss %.4f -> %.4f\n",
           (long long)rep.steps, (long long)rep.images, rep.seconds, rep.images_per_s, rep.first_loss,
           rep.final_loss);
    if (holdout > 0)
        printf("held-out: loss %.4f top-1 %.4f (%lld images)\n", ho.loss, ho.top1, (long long)ho.n);
    else
        printf("held-out: none (--holdout 0)\n");
    if (eval_test)
        printf("test: loss %.4f top-1 %.4f (%lld images)\n", te.loss, te.top1, (long long)te.n);
    rc = 0;
    goto done;
fail_err:
    rc = cli_fail_err("train", &e);
done:
    free(tr_idx);
    free(ho_idx);
    nad_dataset_free(train);
    nad_dataset_free(test);
    nad_graph_free(g);
    return rc;
}
