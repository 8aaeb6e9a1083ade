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
#include <float.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/atomic_file.h"
#include "opts.h"
#include "graph/graph.h"
#include "nadapt/data.h"
#include "nadapt/train.h"

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

/* What the command line asks of `nadapt train` beyond the training configuration. */
typedef struct train_args {
    const char *model, *data, *out, *schedule, *scheme, *mean_s, *std_s;
    long epochs, steps, step_size, batch, seed, holdout, holdout_seed, crop, threads;
    int init, eval_test, epochs_given;
    nad_init_scheme init_scheme;
} train_args;

/* Maps a --schedule name to its enum; returns 0, or 1 after printing the error. */
static int parse_schedule(const char *v, nad_lr_schedule *out)
{
    static const char *const names[] = {"constant", "step", "cosine", "onecycle"};
    static const nad_lr_schedule values[] = {NAD_LR_CONSTANT, NAD_LR_STEP, NAD_LR_COSINE, NAD_LR_ONECYCLE};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (!strcmp(v, names[k])) {
            *out = values[k];
            return 0;
        }
    return cli_cmd_fail("train", "--schedule wants constant, step, cosine or onecycle, not '%s'", v);
}

/* Copies the parsed values into cfg and checks what the table cannot; returns 0 or the exit status. */
static int finish_args(train_args *a, nad_train_config *cfg)
{
    if (!a->data || !a->out)
        return cli_cmd_fail("train", "needs MODEL.onnx, --data DIR and --out OUT.onnx (see --help)");
    if (a->epochs_given && a->steps)
        return cli_cmd_fail("train", "give --epochs or --steps, not both");
    if (!(cfg->lr > 0))
        return cli_cmd_fail("train", "--lr wants a positive number, not '%g'", cfg->lr);
    if (a->scheme && strcmp(a->scheme, "he") && strcmp(a->scheme, "torch"))
        return cli_cmd_fail("train", "--init-scheme wants he or torch, not '%s'", a->scheme);
    a->init |= a->scheme != NULL;
    a->init_scheme = a->scheme && !strcmp(a->scheme, "torch") ? NAD_INIT_TORCH : NAD_INIT_HE;
    cfg->epochs = (int)a->epochs;
    cfg->steps = a->steps;
    cfg->step_size = a->step_size;
    cfg->batch = (int)a->batch;
    cfg->seed = (uint64_t)a->seed;
    cfg->crop_pad = (int)a->crop;
    cfg->threads = (int)a->threads;
    if (parse_schedule(a->schedule, &cfg->schedule))
        return 1;
    return cli_parse_norm("train", a->mean_s, a->std_s, 4, cfg->mean, cfg->std, &cfg->n_norm);
}

/* Fills a and cfg (from its defaults) through the option table; returns 0, -1 after --help, or the exit status. */
static int parse_args(int argc, char **argv, train_args *a, nad_train_config *cfg)
{
    nad_train_config_defaults(cfg);
    *a = (train_args){.schedule = "constant", .mean_s = CLI_NORM_MEAN, .std_s = CLI_NORM_STD, .epochs = cfg->epochs,
                      .step_size = (long)cfg->step_size, .batch = cfg->batch, .seed = (long)cfg->seed,
                      .holdout = 5000, .holdout_seed = 1, .threads = cfg->threads};
    const double huge = DBL_MAX;
    const cli_option opts[] = {
        CLI_STRING("data", &a->data, "DIR", "dataset; trains on its training split (required)"),
        CLI_STRING("out", &a->out, "OUT.onnx", "where to write the trained model (required)"),
        CLI_OPT("epochs", CLI_K_INT, &a->epochs, "E", "passes over the training images", 1, 100000, &a->epochs_given),
        CLI_INT("steps", &a->steps, "S", "run exactly S mini-batch steps instead of epochs", 1, 1000000000L),
        CLI_DOUBLE("lr", &cfg->lr, "LR", "learning rate; the peak for onecycle", -huge, huge),
        CLI_DOUBLE("momentum", &cfg->momentum, "M", "SGD momentum", -huge, huge),
        CLI_FLAG("nesterov", &cfg->nesterov, "Nesterov momentum"),
        CLI_DOUBLE("weight-decay", &cfg->weight_decay, "WD", "L2 on every trainable tensor incl. biases and BN", -huge,
                   huge),
        CLI_STRING("schedule", &a->schedule, "S", "constant | step | cosine | onecycle"),
        CLI_DOUBLE("gamma", &cfg->step_gamma, "G", "step schedule: factor per period", -huge, huge),
        CLI_INT("step-size", &a->step_size, "N", "step schedule: period in steps", 1, 1000000000L),
        CLI_INT("batch", &a->batch, "N", "images per step", 1, 65536),
        CLI_INT("seed", &a->seed, "S", "shuffling, augmentation, dropout and --init", 0, 2147483647L),
        CLI_INT("holdout", &a->holdout, "K",
                "held-out images carved from the training split (0: none);\n"
                "the test split is never used for training",
                0, 100000000L),
        CLI_INT("holdout-seed", &a->holdout_seed, "S", "seed of the held-out split", 0, 2147483647L),
        CLI_STRING("mean", &a->mean_s, "M[,M..]", "normalisation mean per channel"),
        CLI_STRING("std", &a->std_s, "S[,S..]", "normalisation std per channel"),
        CLI_FLAG("flip", &cfg->flip, "random horizontal flips"),
        CLI_INT("crop", &a->crop, "PAD", "random crops after zero padding by PAD pixels", 0, 64),
        CLI_INT("threads", &a->threads, "T", "BLAS threads", 1, 256),
        CLI_FLAG("init", &a->init, "re-initialise (He normal, zero biases, BN 1/0) and train from scratch"),
        CLI_STRING("init-scheme", &a->scheme, "S",
                   "he (default) | torch: PyTorch's default layer init, to follow a torch recipe\n"
                   "(implies --init)"),
        CLI_FLAG("test", &a->eval_test, "also report loss/top-1 on the test split (evaluation only)"),
        CLI_END,
    };
    const cli_spec spec = {"train", "MODEL.onnx --data DIR --out OUT.onnx [options]",
                           "Fine-tunes MODEL with SGD on the training split of DIR (softmax cross-entropy)\n"
                           "and writes OUT.onnx (BatchNormalization kept, running statistics updated).",
                           opts, 1, 1};
    int n_pos, rc = cli_parse(&spec, argc, argv, &a->model, &n_pos);
    return rc ? rc : finish_args(a, cfg);
}

/* Entry point of `nadapt train`: parses, loads, splits, trains, reports, saves; returns the exit status. */
int cmd_train(int argc, char **argv)
{
    train_args a;
    nad_train_config cfg;
    int rc;
    nad_graph *g = NULL;
    nad_dataset *train = NULL, *test = NULL;
    int64_t *tr_idx = NULL, *ho_idx = NULL, n_tr = 0;
    nad_err e;

    if ((rc = parse_args(argc, argv, &a, &cfg)))
        return rc < 0 ? 0 : rc;
    rc = 1;
    /* Before minutes of training, not after: can --out be written at all? */
    if (nad_check_writable(a.out, &e))
        goto fail_err;
    if (nad_graph_load_onnx(a.model, 0, &g, &e))
        goto fail_err;
    if (nad_dataset_load(a.data, NAD_SPLIT_TRAIN, &train, &e))
        goto fail_err;
    if (a.holdout >= train->n) {
        cli_cmd_fail("train", "--holdout %ld leaves no training images (the split has %lld)", a.holdout,
                     (long long)train->n);
        goto done;
    }
    if (nad_train_split(train->n, a.holdout, (uint64_t)a.holdout_seed, &tr_idx, &n_tr, &ho_idx, &e))
        goto fail_err;
    if (a.init && nad_train_init_weights(g, a.init_scheme, cfg.seed, &e))
        goto fail_err;
    if (isatty(STDERR_FILENO)) {
        cfg.progress = show_progress;
        cfg.progress_every = 10;
    }
    nad_train_report rep;
    if (nad_finetune(g, train, tr_idx, n_tr, &cfg, &rep, &e))
        goto fail_err;
    nad_eval_result ho = {0}, te = {0};
    if (a.holdout > 0 && nad_train_evaluate(g, train, ho_idx, a.holdout, &cfg, &ho, &e))
        goto fail_err;
    if (a.eval_test) {
        if (nad_dataset_load(a.data, NAD_SPLIT_TEST, &test, &e) ||
            nad_train_evaluate(g, test, NULL, test->n, &cfg, &te, &e))
            goto fail_err;
    }
    if (nad_graph_save_onnx(g, a.out, &e))
        goto fail_err;
    printf("trained %lld steps (%lld images) in %.1f s, %.0f images/s; train loss %.4f -> %.4f\n",
           (long long)rep.steps, (long long)rep.images, rep.seconds, rep.images_per_s, rep.first_loss,
           rep.final_loss);
    if (a.holdout > 0)
        printf("held-out: loss %.4f top-1 %.4f (%lld images)\n", ho.loss, ho.top1, (long long)ho.n);
    else
        printf("held-out: none (--holdout 0)\n");
    if (a.eval_test)
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
