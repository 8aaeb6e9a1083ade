/*
 * nadapt — exec:[OPTIONS]COMMAND: a resource back-end that runs a user's
 * command for every candidate network (measure/README.md, "exec").
 *
 * backend.c writes the candidate as ONNX to a temporary file; the command
 * (run by /bin/sh -c, with every {onnx} replaced by the shell-quoted path and
 * NADAPT_ONNX set to it) prints `name=value [unit]` lines on stdout, e.g.
 * `latency=3.2 ms`.  This is how a phone or a board is reached (adb, ssh)
 * without writing C.
 *
 * The resources are declared in the spec, never guessed from a first run, so
 * that a list of back-ends knows at open time which one provides what:
 *     exec:[latency:ms,energy:mJ,timeout=60,retries=2]./bench.sh {onnx}
 * A printed unit is converted to the declared one (ms to s, mJ to pJ ...);
 * a bare number is taken in the declared unit.
 *
 * A run never hangs and never leaves a process behind on a timeout: the
 * command is its own process group, stdout and stderr are read with poll()
 * against a deadline, and on the deadline the whole group is killed before
 * the shell is reaped.  posix_spawn (not fork) starts it, since the adapter
 * may measure from a process that runs other threads.
 */
#define _GNU_SOURCE /* pipe2 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend_internal.h"

extern char **environ;

#define EXEC_MAX_RES 5
#define OUT_CAP 65536 /* stdout kept (its tail, by whole lines) */
#define ERR_CAP 4096  /* stderr kept (its tail)                 */

typedef struct exec_res {
    char name[16];
    char unit[16];
} exec_res;

typedef struct exec_state {
    char *command; /* as given, {onnx} not yet replaced */
    exec_res res[EXEC_MAX_RES];
    int n_res;
    double timeout_s;
    int retries;
} exec_state;

/* What one run of the command left behind. */
typedef struct exec_run {
    char out[OUT_CAP + 1], err[ERR_CAP + 1];
    size_t n_out, n_err;
    int status;    /* waitpid status          */
    int timed_out; /* killed on the deadline  */
} exec_run;

/* ---- units --------------------------------------------------------------- */

/* Seconds or joules per unit for the time and energy families; 0 otherwise.
 * *family is 't', 'e', or 0. */
static double unit_si(const char *u, char *family)
{
    static const struct {
        const char *u;
        char fam;
        double si;
    } t[] = {{"s", 't', 1},     {"ms", 't', 1e-3}, {"us", 't', 1e-6}, {"ns", 't', 1e-9}, {"pJ", 'e', 1e-12},
             {"nJ", 'e', 1e-9}, {"uJ", 'e', 1e-6}, {"mJ", 'e', 1e-3}, {"J", 'e', 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(u, t[i].u)) {
            *family = t[i].fam;
            return t[i].si;
        }
    *family = 0;
    return 0;
}

/* Factor from a printed unit to the declared one; 0 when they do not convert.
 * An empty printed unit means the declared one. */
static double unit_factor(const char *printed, const char *declared)
{
    if (!printed[0] || !strcmp(printed, declared))
        return 1;
    char fp, fd;
    double sp = unit_si(printed, &fp), sd = unit_si(declared, &fd);
    return fp && fp == fd ? sp / sd : 0;
}

/* The unit a resource is in when the spec names none. */
static const char *default_unit(const char *name)
{
    if (!strcmp(name, "latency"))
        return "s";
    if (!strcmp(name, "energy"))
        return "pJ";
    if (!strcmp(name, "dram"))
        return "accesses";
    return !strcmp(name, "macs") ? "MACs" : "params";
}

/* ---- the spec ------------------------------------------------------------ */

/* One declared resource "NAME[:UNIT]". */
static int parse_resource(exec_state *st, const char *item, char *err, size_t err_len)
{
    char name[16];
    const char *colon = strchr(item, ':');
    size_t n = colon ? (size_t)(colon - item) : strlen(item);
    snprintf(name, sizeof name, "%.*s", (int)(n < 15 ? n : 15), item);
    if (nad_resource_from_name(name) == NAD_RES_COUNT) {
        snprintf(err, err_len, "exec: '%s' is neither a resource (latency, energy, dram, macs, params) nor "
                 "timeout=S or retries=N", item);
        return 1;
    }
    const char *unit = colon ? colon + 1 : default_unit(name);
    char fam;
    if ((!strcmp(name, "latency") && (!unit_si(unit, &fam) || fam != 't')) || !unit[0] || strlen(unit) >= 16) {
        snprintf(err, err_len, "exec: resource '%s' in unit '%s' (latency needs s, ms, us or ns)", name, unit);
        return 1;
    }
    for (int i = 0; i < st->n_res; i++)
        if (!strcmp(st->res[i].name, name)) {
            snprintf(err, err_len, "exec: resource '%s' declared twice", name);
            return 1;
        }
    if (st->n_res == EXEC_MAX_RES) {
        snprintf(err, err_len, "exec: at most %d resources", EXEC_MAX_RES);
        return 1;
    }
    snprintf(st->res[st->n_res].name, sizeof st->res[0].name, "%s", name);
    snprintf(st->res[st->n_res++].unit, sizeof st->res[0].unit, "%s", unit);
    return 0;
}

/* One option item: timeout=S, retries=N, or a resource. */
static int parse_item(exec_state *st, const char *item, char *err, size_t err_len)
{
    char *end = NULL;
    if (!strncmp(item, "timeout=", 8)) {
        st->timeout_s = strtod(item + 8, &end);
        if (end == item + 8 || *end || !(st->timeout_s > 0 && st->timeout_s <= 1e6)) {
            snprintf(err, err_len, "exec: timeout '%s' is not a number of seconds in (0, 1e6]", item + 8);
            return 1;
        }
        return 0;
    }
    if (!strncmp(item, "retries=", 8)) {
        long r = strtol(item + 8, &end, 10);
        if (end == item + 8 || *end || r < 0 || r > 100) {
            snprintf(err, err_len, "exec: retries '%s' is not a count in [0, 100]", item + 8);
            return 1;
        }
        st->retries = (int)r;
        return 0;
    }
    return parse_resource(st, item, err, err_len);
}

/* "[ITEM,ITEM,...]" at the start of config; *rest points past it. */
static int parse_options(exec_state *st, const char *config, const char **rest, char *err, size_t err_len)
{
    const char *close = strchr(config, ']');
    if (!close) {
        snprintf(err, err_len, "exec: option list '[' has no closing ']'");
        return 1;
    }
    for (const char *s = config + 1; s < close;) {
        const char *end = memchr(s, ',', (size_t)(close - s));
        size_t n = end ? (size_t)(end - s) : (size_t)(close - s);
        char item[128];
        snprintf(item, sizeof item, "%.*s", (int)(n < 127 ? n : 127), s);
        if (parse_item(st, item, err, err_len))
            return 1;
        s = end ? end + 1 : close;
    }
    *rest = close + 1;
    return 0;
}

/* ---- running the command ------------------------------------------------- */

/* The command with every {onnx} replaced by path in single quotes; malloc'd. */
static char *substitute(const char *command, const char *path)
{
    size_t q = 2;
    for (const char *p = path; *p; p++)
        q += *p == '\'' ? 4 : 1;
    size_t n = 0;
    for (const char *s = strstr(command, "{onnx}"); s; s = strstr(s + 6, "{onnx}"))
        n++;
    char *out = malloc(strlen(command) + n * q + 1), *w = out;
    if (!out)
        return NULL;
    for (const char *s = command; *s;) {
        if (strncmp(s, "{onnx}", 6)) {
            *w++ = *s++;
            continue;
        }
        *w++ = '\'';
        for (const char *p = path; *p; p++) {
            if (*p == '\'') { /* ' inside '...' is written '\'' */
                memcpy(w, "'\\''", 4);
                w += 4;
            } else {
                *w++ = *p;
            }
        }
        *w++ = '\'';
        s += 6;
    }
    *w = 0;
    return out;
}

/* The environment of the command: ours plus NADAPT_ONNX=path; malloc'd
 * (entry 0 is the new variable, owned by the array's caller). */
static char **child_env(const char *path)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = malloc((n + 2) * sizeof *env), *var = malloc(strlen(path) + 13);
    if (!env || !var) {
        free(env);
        free(var);
        return NULL;
    }
    snprintf(var, strlen(path) + 13, "NADAPT_ONNX=%s", path);
    size_t k = 0;
    env[k++] = var;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "NADAPT_ONNX=", 12))
            env[k++] = environ[i];
    env[k] = NULL;
    return env;
}

/* Starts sh -c cmd in a new process group, stdin from /dev/null, stdout and
 * stderr into the pipes' write ends. */
static int spawn(const char *cmd, char **env, int out_w, int err_w, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    /* The command must die of these as a shell would, whatever nadapt ignores. */
    int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&dfl, sigs[i]);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    posix_spawn_file_actions_adddup2(&fa, err_w, 2);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    int rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

/* Seconds on a monotonic clock. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Appends n (< cap) bytes to a buffer that keeps its last cap bytes. */
static void keep_tail(char *buf, size_t *len, size_t cap, const char *data, size_t n)
{
    if (*len + n > cap) {
        size_t drop = *len + n - cap;
        memmove(buf, buf + drop, *len - drop);
        *len -= drop;
    }
    memcpy(buf + *len, data, n);
    *len += n;
    buf[*len] = 0;
}

/* Reads stdout (fds[0]) and stderr (fds[1]) until both close or the deadline
 * passes; returns 1 on the deadline. */
static int drain(int fds[2], exec_run *r, double deadline)
{
    int open_fd[2] = {1, 1};
    char chunk[2048]; /* smaller than either buffer (keep_tail) */
    while (open_fd[0] || open_fd[1]) {
        double left = deadline - now_s();
        if (left <= 0)
            return 1;
        struct pollfd p[2];
        int np = 0, which[2];
        for (int i = 0; i < 2; i++)
            if (open_fd[i]) {
                p[np] = (struct pollfd){.fd = fds[i], .events = POLLIN};
                which[np++] = i;
            }
        int rc = poll(p, (nfds_t)np, (int)ceil(left * 1000));
        if (rc < 0 && errno != EINTR)
            return 0;
        for (int k = 0; k < np && rc > 0; k++) {
            if (!p[k].revents)
                continue;
            ssize_t n = read(p[k].fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                open_fd[which[k]] = 0;
            else if (which[k] == 0)
                keep_tail(r->out, &r->n_out, OUT_CAP, chunk, (size_t)n);
            else
                keep_tail(r->err, &r->n_err, ERR_CAP, chunk, (size_t)n);
        }
    }
    return 0;
}

/* Waits for the shell until the deadline; on the deadline (or when already
 * late) kills its whole group first, so nothing it started lives on.  The
 * group is killed before the shell is reaped: its id cannot be reused yet. */
static void reap(pid_t pid, exec_run *r, double deadline)
{
    while (!r->timed_out) {
        pid_t w = waitpid(pid, &r->status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            return;
        if (now_s() >= deadline)
            r->timed_out = 1;
        else
            nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    kill(-pid, SIGKILL);
    while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR) {
    }
}

/* Runs cmd once, filling r; returns 0, or 1 when it could not be started. */
static int run_command(const char *cmd, char **env, double timeout_s, exec_run *r, char *err, size_t err_len)
{
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    r->out[0] = r->err[0] = 0;
    r->n_out = r->n_err = 0;
    r->status = 0;
    r->timed_out = 0;
    if (pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
        snprintf(err, err_len, "exec: cannot create a pipe: %s", strerror(errno));
        goto fail;
    }
    pid_t pid;
    int rc = spawn(cmd, env, out[1], errp[1], &pid);
    close(out[1]);
    close(errp[1]);
    out[1] = errp[1] = -1;
    if (rc) {
        snprintf(err, err_len, "exec: cannot start /bin/sh: %s", strerror(rc));
        goto fail;
    }
    double deadline = now_s() + timeout_s;
    int fds[2] = {out[0], errp[0]};
    r->timed_out = drain(fds, r, deadline);
    reap(pid, r, deadline);
    close(out[0]);
    close(errp[0]);
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    return 1;
}

/* ---- reading the answer -------------------------------------------------- */

/* The last non-empty line of text, printable, at most max chars, into buf. */
static void last_line(const char *text, char *buf, size_t max)
{
    size_t n = strlen(text);
    while (n && isspace((unsigned char)text[n - 1]))
        n--;
    size_t b = n;
    while (b && text[b - 1] != '\n')
        b--;
    size_t len = n - b < max - 1 ? n - b : max - 1;
    for (size_t i = 0; i < len; i++)
        buf[i] = isprint((unsigned char)text[b + i]) ? text[b + i] : '?';
    buf[len] = 0;
}

/* The command for messages: at most 48 characters of it. */
static void short_cmd(const char *cmd, char *buf, size_t len)
{
    snprintf(buf, len, "%.48s%s", cmd, strlen(cmd) > 48 ? "..." : "");
}

/* Why a finished run failed by its status, or 0 when it exited with 0. */
static int check_status(const exec_state *st, const exec_run *r, char *err, size_t err_len)
{
    char cmd[64], line[160], tail[200] = "";
    short_cmd(st->command, cmd, sizeof cmd);
    last_line(r->err, line, sizeof line);
    if (line[0])
        snprintf(tail, sizeof tail, "; stderr: '%s'", line);
    if (r->timed_out)
        snprintf(err, err_len, "'%s' timed out after %g s (killed)%s", cmd, st->timeout_s, tail);
    else if (WIFSIGNALED(r->status))
        snprintf(err, err_len, "'%s' was killed by signal %d (%s)%s", cmd, WTERMSIG(r->status),
                 strsignal(WTERMSIG(r->status)), tail);
    else if (WIFEXITED(r->status) && WEXITSTATUS(r->status) > 128 && WEXITSTATUS(r->status) < 128 + 32)
        /* The shell's way of saying that what it ran died of a signal. */
        snprintf(err, err_len, "'%s' exited with status %d (killed by signal %d, %s)%s", cmd,
                 WEXITSTATUS(r->status), WEXITSTATUS(r->status) - 128, strsignal(WEXITSTATUS(r->status) - 128), tail);
    else if (!WIFEXITED(r->status) || WEXITSTATUS(r->status))
        snprintf(err, err_len, "'%s' exited with status %d%s", cmd, WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1,
                 tail);
    else
        return 0;
    return 1;
}

/* Parses "VALUE [UNIT]" of resource i; returns 0 and the value in the
 * declared unit, else writes why. */
static int parse_value(const exec_state *st, int i, const char *text, double *v, char *why, size_t why_len)
{
    char *end;
    errno = 0;
    double x = strtod(text, &end);
    if (end == text) {
        snprintf(why, why_len, "'%s=%.40s', which is not a number", st->res[i].name, text);
        return 1;
    }
    if (!isfinite(x) || x < 0) {
        snprintf(why, why_len, "'%s=%.40s', which is not a finite non-negative value", st->res[i].name, text);
        return 1;
    }
    while (*end == ' ' || *end == '\t')
        end++;
    char unit[32];
    size_t n = strcspn(end, " \t\r");
    snprintf(unit, sizeof unit, "%.*s", (int)(n < 31 ? n : 31), end);
    const char *after = end + n + strspn(end + n, " \t\r");
    double f = n < 31 && !*after ? unit_factor(unit, st->res[i].unit) : 0;
    if (!(f > 0)) {
        snprintf(why, why_len, "'%s=%.40s', whose unit '%.20s' does not convert to %s", st->res[i].name, text, unit,
                 st->res[i].unit);
        return 1;
    }
    *v = x * f;
    return 0;
}

/* Reads every declared resource from stdout; the last line naming one wins,
 * lines naming nothing declared are ignored (a command may log on stdout). */
static int parse_output(const exec_state *st, char *out, double *values, char *err, size_t err_len)
{
    int found[EXEC_MAX_RES] = {0};
    char cmd[64], why[200];
    short_cmd(st->command, cmd, sizeof cmd);
    for (char *line = out, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        line += strspn(line, " \t");
        size_t n = strcspn(line, "= \t");
        const char *eq = line + n + strspn(line + n, " \t");
        if (*eq != '=')
            continue;
        for (int i = 0; i < st->n_res; i++) {
            if (strlen(st->res[i].name) != n || strncmp(line, st->res[i].name, n))
                continue;
            if (parse_value(st, i, eq + 1 + strspn(eq + 1, " \t"), &values[i], why, sizeof why)) {
                snprintf(err, err_len, "'%s' printed %s", cmd, why);
                return 1;
            }
            found[i] = 1;
        }
    }
    for (int i = 0; i < st->n_res; i++)
        if (!found[i]) {
            snprintf(err, err_len, "'%s' printed no '%s=VALUE [%s]' line", cmd, st->res[i].name, st->res[i].unit);
            return 1;
        }
    return 0;
}

/* One attempt: run, check the status, read the values. */
static int attempt(const exec_state *st, const char *cmd, char **env, exec_run *r, double *values, char *err,
                   size_t err_len)
{
    if (run_command(cmd, env, st->timeout_s, r, err, err_len) || check_status(st, r, err, err_len))
        return 1;
    if (r->out[strspn(r->out, " \t\r\n")] == 0) {
        char c[64], line[160], tail[200] = "";
        short_cmd(st->command, c, sizeof c);
        last_line(r->err, line, sizeof line);
        if (line[0])
            snprintf(tail, sizeof tail, "; stderr: '%s'", line);
        snprintf(err, err_len, "'%s' printed nothing on stdout%s", c, tail);
        return 1;
    }
    return parse_output(st, r->out, values, err, err_len);
}

/* ---- the ops ------------------------------------------------------------- */

/* Parses "[OPTIONS]COMMAND"; latency in seconds when no resource is named. */
static int exec_open(const char *config, void **state, char *err, size_t err_len)
{
    *state = NULL;
    exec_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, err_len, "exec: out of memory");
        return 1;
    }
    st->timeout_s = 300;
    const char *cmd = config;
    /* "[ -f x ]" is a shell test, "[latency]" an option list. */
    if (config[0] == '[' && isalpha((unsigned char)config[1]) && parse_options(st, config, &cmd, err, err_len))
        goto fail;
    cmd += strspn(cmd, " \t");
    if (!cmd[0]) {
        snprintf(err, err_len, "exec: no command (exec:[OPTIONS]COMMAND, e.g. exec:./bench.sh {onnx})");
        goto fail;
    }
    if (!st->n_res && parse_resource(st, "latency", err, err_len))
        goto fail;
    if (!(st->command = strdup(cmd))) {
        snprintf(err, err_len, "exec: out of memory");
        goto fail;
    }
    *state = st;
    return 0;
fail:
    free(st);
    return 1;
}

/* The declared resources, in the order values[] uses. */
static int exec_resources(void *state, nad_backend_resource_desc *out, int max, char *err, size_t err_len)
{
    exec_state *st = state;
    if (max < st->n_res)
        return 0;
    for (int i = 0; i < st->n_res; i++)
        out[i] = (nad_backend_resource_desc){st->res[i].name, st->res[i].unit};
    return st->n_res;
}

/* Runs the command on net->onnx_path, up to 1 + retries times. */
static int exec_network(void *state, const nad_backend_net *net, double *values, double *spread, char *err,
                        size_t err_len)
{
    exec_state *st = state;
    if (!net->onnx_path) {
        snprintf(err, err_len, "exec: no candidate file (NAD_BACKEND_WANTS_FILE not honoured)");
        return 1;
    }
    char *cmd = substitute(st->command, net->onnx_path);
    char **env = child_env(net->onnx_path);
    exec_run *r = malloc(sizeof *r);
    int rc = 1, attempts = 0;
    if (!cmd || !env || !r)
        snprintf(err, err_len, "exec: out of memory");
    else
        while (rc && attempts <= st->retries) {
            rc = attempt(st, cmd, env, r, values, err, err_len);
            attempts++;
        }
    if (rc && attempts > 1) {
        size_t used = strlen(err);
        snprintf(err + used, err_len - used, " (%d attempts)", attempts);
    }
    for (int i = 0; i < st->n_res; i++)
        spread[i] = 0;
    if (env)
        free(env[0]);
    free(env);
    free(cmd);
    free(r);
    return rc;
}

/* Frees the state. */
static void exec_close(void *state)
{
    exec_state *st = state;
    if (!st)
        return;
    free(st->command);
    free(st);
}

const nad_backend_ops nad_backend_exec_ops = {
    .abi_version = NAD_BACKEND_ABI_VERSION,
    .struct_size = sizeof(nad_backend_ops),
    .name = "exec",
    /* A command usually times something: never beside other work. */
    .flags = NAD_BACKEND_WANTS_FILE | NAD_BACKEND_TIMED,
    .open = exec_open,
    .resources = exec_resources,
    .layer = NULL,
    .network = exec_network,
    .close = exec_close,
};
