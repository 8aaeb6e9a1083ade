/*
 * nadapt measure MODEL.onnx --backend SPEC [--backend SPEC ...] [--json]
 *
 * Every resource of a model for one image, from one or more back-ends
 * (include/nadapt/backend.h): each resource comes from the first back-end
 * that reports it, MACs and parameters from the graph.  One line per
 * resource (value, unit, spread, the back-end that provided it), or one JSON
 * object mapping each resource to {value, unit, spread, source}.  The model
 * is loaded with BatchNorm kept: the back-ends fold it themselves, exactly as
 * they do for the adapter's candidates.
 */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "opts.h"
#include "nadapt/backend.h"
#include "nadapt/graph.h"

/* Prints the reported resources as text or as one JSON object. */
static void print_values(const nad_backend *b, const char *path, const double *v, const double *sp, int json)
{
    if (!json)
        printf("model %s, back-end %s\n", path, nad_backend_target(b));
    else
        printf("{");
    for (int r = 0, k = 0; r < NAD_RES_COUNT; r++) {
        if (!nad_backend_reports(b, (nad_resource)r) || !isfinite(v[r]))
            continue;
        const char *name = nad_resource_name((nad_resource)r), *unit = nad_backend_unit(b, (nad_resource)r);
        if (json) {
            printf("%s\"%s\":{\"value\":%.17g,\"unit\":", k++ ? "," : "", name, v[r]);
            cli_json_str(stdout, unit);
            printf(",\"spread\":%.17g,\"source\":", sp[r]);
            cli_json_str(stdout, nad_backend_source(b, (nad_resource)r));
            printf("}");
        } else {
            /* counts in full, measured values to 6 digits */
            int whole = v[r] == floor(v[r]) && v[r] < 1e15;
            printf("%-8s %14.*g %-9s spread %-12.4g source %s\n", name, whole ? 15 : 6, v[r], unit, sp[r],
                   nad_backend_source(b, (nad_resource)r));
        }
    }
    if (json)
        printf("}\n");
}

/* Opens the back-ends, measures g, prints; returns the exit status. */
static int measure_graph(const char *path, const nad_graph *g, const cli_list *specs, int json)
{
    nad_err e = {{0}};
    nad_backend *b = NULL;
    double v[NAD_RES_COUNT], sp[NAD_RES_COUNT];
    if (nad_backend_open_list(specs->v, specs->n, &b, &e))
        return cli_fail_err("measure", &e);
    if (nad_backend_measure_spread(b, g, v, sp, &e)) {
        nad_err_prefix(&e, NAD_EIO, "%s: ", path);
        nad_backend_destroy(b);
        return cli_fail_err("measure", &e);
    }
    print_values(b, path, v, sp, json);
    nad_backend_destroy(b);
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_cmd_fail("measure", "could not write the output");
    return 0;
}

/* Entry point of `nadapt measure`: parses options, loads, measures; returns the exit status. */
int cmd_measure(int argc, char **argv)
{
    const char *path;
    cli_list specs = {{0}, 0};
    int json = 0, n_pos, rc;
    const cli_option opts[] = {
        CLI_LIST("backend", &specs, "SPEC",
                 "a back-end (repeatable; each resource from the first that reports it):\n"
                 "host[:threads=N,batch=B,warmup=W,min_runs=K,max_runs=K,max_seconds=T,\n"
                 "max_iqr=F,tries=K] (latency on this CPU; measure/README.md), model:PATH.yaml\n"
                 "[:objective=O,act_density=D], plugin:PATH.so[:CONFIG],\n"
                 "exec:[RES:UNIT,timeout=S,retries=N]COMMAND, lut:FILE"),
        CLI_FLAG("json", &json, "one JSON object: {RESOURCE: {\"value\", \"unit\", \"spread\", \"source\"}, ...}"),
        CLI_END,
    };
    const cli_spec spec = {"measure", "MODEL.onnx --backend SPEC [--backend SPEC ...] [options]",
                           "Measures every resource of MODEL.onnx per image on the back-ends given:\n"
                           "value, unit, spread (interquartile range of repeated timings; 0 for a\n"
                           "model or a count) and the back-end that provided it.  MACs and\n"
                           "parameters are counted from the BatchNorm-folded graph.",
                           opts, 1, 1};
    if ((rc = cli_parse(&spec, argc, argv, &path, &n_pos)))
        return rc < 0 ? 0 : rc;
    if (specs.n == 0)
        return cli_cmd_fail("measure", "no --backend given (e.g. --backend host or --backend models/eyeriss.yaml)");
    nad_err e = {{0}};
    nad_graph *g = NULL;
    if (nad_graph_load_onnx(path, 0, &g, &e))
        return cli_fail_err("measure", &e);
    rc = measure_graph(path, g, &specs, json);
    nad_graph_free(g);
    return rc;
}
