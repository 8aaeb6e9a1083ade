/*
 * The adapter end to end, through the CLI, on a real fixture and real data
 * (the committed 256-image Fashion-MNIST sample, so the suite stays fast):
 * budgets met as `nadapt estimate` re-measures them, the run directory's
 * files, the same result for any --jobs, a run killed at several points and
 * resumed ending bit-identical to an uninterrupted one, and every bad input
 * giving one line and writing nothing.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define MODEL "examples/fixtures/cnn_bn.op13.onnx"
#define DATA "examples/fixtures/fmnist_test256"

/* The options of every run here: small and quick, but every phase runs. */
static void base_args(char *buf, size_t size, const char *model, const char *out, const char *extra)
{
    snprintf(buf, size,
             "adapt '%s' --target '%s' --data '%s' --out '%s' --budget energy=0.6 --budget params=0.9 --step-init 0.15 --short-steps 4 "
             "--long-steps 8 --batch 32 --holdout 64 --restore-images 32 --threads 1 %s",
             tu_src(model), tu_src("models/eyeriss.yaml"), tu_src(DATA), out, extra);
}

static int exists(const char *dir, const char *name)
{
    char p[1024];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* Number of directory entries other than . and .. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

/* True when the two files hold the same bytes. */
static int same_file(const char *a, const char *b)
{
    size_t la, lb;
    void *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

/* history.csv without its last column (wall-clock seconds). */
static char *history_sans_time(const char *dir)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/history.csv", dir);
    size_t len;
    char *s = tu_read_file(p, &len);
    assert_non_null(s);
    char *out = malloc(len + 1), *w = out;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        char *comma = strrchr(line, ',');
        size_t n = comma ? (size_t)(comma - line) : strlen(line);
        memcpy(w, line, n);
        w += n;
        *w++ = '\n';
    }
    *w = 0;
    free(s);
    return out;
}

/* Value of column col (0-based) in the last row of dir's history. */
static double last_col(const char *dir, int col)
{
    char p[1024], line[2048], last[2048] = "";
    snprintf(p, sizeof p, "%s/history.csv", dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        strcpy(last, line);
    fclose(f);
    /* the group field is quoted and has no commas in these fixtures */
    char *s = last;
    for (int k = 0; k < col; k++) {
        s = strchr(s, ',');
        assert_non_null(s);
        s++;
    }
    return strtod(s, NULL);
}

static char g_ref[512];

/* One uninterrupted run, the reference for the others. */
static void run_reference(void)
{
    if (g_ref[0])
        return;
    snprintf(g_ref, sizeof g_ref, "%s/ref", tu_tmpdir());
    char args[4096], out[8192], err[8192];
    base_args(args, sizeof args, MODEL, g_ref, "--jobs 2 --json");
    int st = tu_run_cli(args, out, sizeof out, err, sizeof err);
    if (st)
        fail_msg("adapt failed (%d): %s", st, err);
    assert_non_null(strstr(out, "\"met\":true"));
    /* both budgets, each under its limit */
    const char *p = strstr(out, "\"params\":{");
    assert_non_null(p);
    double fin = strtod(strstr(p, "\"final\":") + 8, NULL), lim = strtod(strstr(p, "\"budget\":") + 9, NULL);
    assert_true(fin <= lim);
}

/* The run meets its budget as a fresh `nadapt estimate` measures final.onnx,
 * writes every file, and final.onnx scores what history.csv says. */
static void adapt_meets_budget_and_writes_run(void **state)
{
    run_reference();
    const char *names[] = {"config.yaml", "history.csv", "groups.txt", "iter_000.onnx", "iter_001.onnx",
                           "final.onnx",  "curve.svg",   "breakdown.svg"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (!exists(g_ref, names[k]))
            fail_msg("%s missing from the run directory", names[k]);
    char args[2048], out[65536], err[4096];
    snprintf(args, sizeof args, "estimate '%s/iter_000.onnx' --target '%s' --json", g_ref,
             tu_src("models/eyeriss.yaml"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    const char *tot = strstr(out, "\"total\"");
    assert_non_null(tot);
    double e0 = strtod(strstr(tot, "\"energy\":") + 9, NULL);
    snprintf(args, sizeof args, "estimate '%s/final.onnx' --target '%s' --json", g_ref, tu_src("models/eyeriss.yaml"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    tot = strstr(out, "\"total\"");
    double e1 = strtod(strstr(tot, "\"energy\":") + 9, NULL);
    assert_true(e1 <= 0.6 * e0);
    /* history.csv's final energy is what estimate prints (6 significant digits there) */
    assert_true(fabs(last_col(g_ref, 4) - e1) <= 1e-5 * e1);
    /* final.onnx evaluates to the test accuracy history.csv reports */
    snprintf(args, sizeof args, "eval '%s/final.onnx' --data '%s' --mean 0.2860 --std 0.3530 --json", g_ref, tu_src(DATA));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    const char *t1 = strstr(out, "\"top1\": ");
    assert_non_null(t1);
    if (fabs(strtod(t1 + 8, NULL) - last_col(g_ref, 10)) > 1e-6)
        fail_msg("nadapt eval gives top-1 %.6f, history.csv %.6f", strtod(t1 + 8, NULL), last_col(g_ref, 10));
    (void)state;
}

/* --jobs changes who computes a proposal, never what it computes; a run
 * configuration file gives the same run as the options. */
static void jobs_do_not_change_the_result(void **state)
{
    run_reference();
    char dir[512], args[4096], out[8192], err[8192], a[600], b[600];
    snprintf(dir, sizeof dir, "%s/jobs1", tu_tmpdir());
    /* the same settings from a run configuration, --jobs overriding it */
    char cfg[600], yaml[4096];
    snprintf(cfg, sizeof cfg, "%s/run.yaml", tu_tmpdir());
    snprintf(yaml, sizeof yaml,
             "# the reference run's settings\nmodel: \"%s\"\ntarget: \"%s\"\ndata: \"%s\"\n"
             "budgets: [\"energy=0.6\", \"params=0.9\"]\nstep_init: 0.15\nshort_steps: 4\nlong_steps: 8\nbatch: 32\n"
             "holdout: 64\nrestore_images: 32\nthreads: 1\njobs: 2\n",
             tu_src(MODEL), tu_src("models/eyeriss.yaml"), tu_src(DATA));
    assert_int_equal(tu_write_file(cfg, yaml, strlen(yaml)), 0);
    snprintf(args, sizeof args, "adapt --config '%s' --out '%s' --jobs 1", cfg, dir);
    if (tu_run_cli(args, out, sizeof out, err, sizeof err))
        fail_msg("adapt --config --jobs 1 failed: %s", err);
    snprintf(a, sizeof a, "%s/config.yaml", dir);
    char *saved = tu_read_file(a, NULL);
    assert_non_null(saved);
    assert_non_null(strstr(saved, "jobs: 1"));
    free(saved);
    snprintf(a, sizeof a, "%s/final.onnx", dir);
    snprintf(b, sizeof b, "%s/final.onnx", g_ref);
    assert_true(same_file(a, b));
    char *h1 = history_sans_time(dir), *h2 = history_sans_time(g_ref);
    assert_string_equal(h1, h2);
    free(h1);
    free(h2);
    (void)state;
}

/* Starts the CLI with args (split on spaces; no quoting needed here). */
static pid_t spawn(char *args)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)NAD_CLI_PATH;
    for (char *t = strtok(args, " "); t && n < 63; t = strtok(NULL, " "))
        argv[n++] = t;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", 1);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(NAD_CLI_PATH, argv);
        _exit(127);
    }
    return pid;
}

/* Kills a run as soon as `file` appears in dir with at least min_lines
 * lines; returns 1 when the run was still going (the kill happened). */
static int kill_when(const char *dir, const char *args_in, const char *file, int min_lines)
{
    char args[4096];
    snprintf(args, sizeof args, "%s", args_in);
    pid_t pid = spawn(args);
    assert_true(pid > 0);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    int killed = 0;
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            break;
        size_t len;
        char *s = tu_read_file(p, &len);
        int lines = s ? tu_count_lines(s) : -1;
        free(s);
        if (s && lines >= min_lines) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            killed = WIFSIGNALED(st);
            break;
        }
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return killed;
}

/* Killed right after the first checkpoint, mid-loop, and while finishing:
 * each resumed run ends with the uninterrupted run's networks and history. */
static void killed_runs_resume_identically(void **state)
{
    run_reference();
    static const struct {
        const char *file;
        int lines;
    } points[] = {{"iter_001.onnx", 0}, {"history.csv", 3}, {"curve.svg", 0}};
    int kills = 0;
    for (size_t k = 0; k < sizeof points / sizeof *points; k++) {
        char dir[512], args[4096], out[8192], err[8192];
        snprintf(dir, sizeof dir, "%s/kill%zu", tu_tmpdir(), k);
        /* spawn() splits on spaces: the paths here have none */
        snprintf(args, sizeof args,
                 "adapt %s --target %s --data %s --out %s --budget energy=0.6 --budget params=0.9 --step-init 0.15 --short-steps 4 "
                 "--long-steps 8 --batch 32 --holdout 64 --restore-images 32 --threads 1 --jobs 2",
                 tu_src(MODEL), tu_src("models/eyeriss.yaml"), tu_src(DATA), dir);
        kills += kill_when(dir, args, points[k].file, points[k].lines);
        snprintf(args, sizeof args, "adapt --resume '%s'", dir);
        if (tu_run_cli(args, out, sizeof out, err, sizeof err))
            fail_msg("resume after kill at %s failed: %s", points[k].file, err);
        char a[600], b[600];
        snprintf(a, sizeof a, "%s/final.onnx", dir);
        snprintf(b, sizeof b, "%s/final.onnx", g_ref);
        if (!same_file(a, b))
            fail_msg("resumed run (killed at %s) differs from the uninterrupted one", points[k].file);
        char *h1 = history_sans_time(dir), *h2 = history_sans_time(g_ref);
        assert_string_equal(h1, h2);
        free(h1);
        free(h2);
        /* resuming a finished run changes nothing and succeeds */
        assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
        assert_true(same_file(a, b));
    }
    printf("  killed %d of 3 runs before they finished\n", kills);
    assert_true(kills >= 1);
    (void)state;
}

/* Runs the CLI, expects failure with one line on stderr containing want. */
static void expect_fail(const char *args, const char *want)
{
    char out[8192], err[8192];
    int st = tu_run_cli(args, out, sizeof out, err, sizeof err);
    if (st == 0)
        fail_msg("expected failure for: %s", args);
    if (!strstr(err, want))
        fail_msg("error for [%s] lacks '%s': %s", args, want, err);
    assert_int_equal(tu_count_lines(err), 1);
    assert_string_equal(out, "");
}

/* Bad budgets, models, run directories: one line, non-zero, nothing written. */
static void bad_input_is_refused(void **state)
{
    char dir[512], args[4096];
    snprintf(dir, sizeof dir, "%s/bad", tu_tmpdir());
    base_args(args, sizeof args, MODEL, dir, "--budget speed=0.5");
    expect_fail(args, "unknown budget 'speed'");
    base_args(args, sizeof args, MODEL, dir, "--budget latency=0.001");
    expect_fail(args, "cannot be met");
    char ea[4096];
    snprintf(ea, sizeof ea,
             "adapt '%s' --target '%s' --data '%s' --out '%s' --holdout 64 --budget energy=0.001", tu_src(MODEL),
             tu_src("models/eyeriss.yaml"), tu_src(DATA), dir);
    expect_fail(ea, "cannot be met");
    base_args(args, sizeof args, "examples/fixtures/tiny_gemm.onnx", dir, "");
    expect_fail(args, "no layer group can be pruned");
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0); /* nothing was created */
    /* an existing directory that is not a run is left alone */
    mkdir(dir, 0777);
    char keep[600];
    snprintf(keep, sizeof keep, "%s/mine.txt", dir);
    assert_int_equal(tu_write_file(keep, "x", 1), 0);
    base_args(args, sizeof args, MODEL, dir, "");
    expect_fail(args, "not an empty directory");
    assert_int_equal(entries(dir), 1);
    /* --resume on a foreign directory and on a damaged run */
    snprintf(args, sizeof args, "adapt --resume '%s'", dir);
    expect_fail(args, "not an nadapt run directory");
    run_reference();
    char dmg[512], cmd[2048];
    snprintf(dmg, sizeof dmg, "%s/damaged", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && printf 'garbage\\n' >> '%s/history.csv'", g_ref, dmg, dmg);
    assert_int_equal(system(cmd), 0);
    snprintf(args, sizeof args, "adapt --resume '%s'", dmg);
    expect_fail(args, "history.csv");
    /* the existing run is refused as --out, untouched */
    base_args(args, sizeof args, MODEL, g_ref, "");
    expect_fail(args, "--resume");
    /* --resume takes nothing else */
    snprintf(args, sizeof args, "adapt --resume '%s' --budget energy=0.5", g_ref);
    expect_fail(args, "--resume");
    (void)state;
}

/* A run that stops short of its budget still finishes the best network,
 * says why on one line and exits 3. */
static void stopping_short_exits_3(void **state)
{
    char dir[512], args[4096], out[8192], err[8192];
    snprintf(dir, sizeof dir, "%s/short", tu_tmpdir());
    base_args(args, sizeof args, MODEL, dir, "--max-iters 1 --long-steps 0 --no-test");
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 3);
    assert_non_null(strstr(err, "budgets not met: stopped at max_iters"));
    assert_int_equal(tu_count_lines(err), 1);
    assert_true(exists(dir, "final.onnx"));
    assert_true(exists(dir, "iter_001.onnx"));
    assert_false(exists(dir, "iter_002.onnx"));
    /* a learning rate that makes every proposal diverge: none is kept */
    snprintf(dir, sizeof dir, "%s/diverged", tu_tmpdir());
    base_args(args, sizeof args, MODEL, dir, "--short-lr 10 --short-steps 20 --long-steps 0 --no-test");
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 3);
    assert_non_null(strstr(err, "diverged"));
    assert_false(exists(dir, "iter_001.onnx"));
    (void)state;
}

/* --dry-run lists groups and frozen ones with the reason; writes nothing. */
static void dry_run_lists_groups(void **state)
{
    char args[4096], out[16384], err[4096], dir[512];
    snprintf(dir, sizeof dir, "%s/dry", tu_tmpdir());
    base_args(args, sizeof args, "examples/fixtures/mobilenetv2.op13.onnx", dir, "--dry-run");
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "7 prunable of 8"));
    assert_non_null(strstr(out, "FROZEN: its channels are the network output"));
    assert_non_null(strstr(out, "with /blocks/blocks.1/body/body.6/fc2/Conv"));
    assert_non_null(strstr(out, "budget energy=0.6"));
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adapt_meets_budget_and_writes_run),
        cmocka_unit_test(jobs_do_not_change_the_result),
        cmocka_unit_test(killed_runs_resume_identically),
        cmocka_unit_test(bad_input_is_refused),
        cmocka_unit_test(dry_run_lists_groups),
        cmocka_unit_test(stopping_short_exits_3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
