/*
 * nadapt info MODEL.onnx [--batch N] [--no-fold-bn] [--json]
 *
 * Loads a model the way every other command does (fold constants, drop
 * Dropout/Identity, fold BN unless --no-fold-bn), infers shapes for the batch
 * and prints one row per layer (index, name, op, input and output shape,
 * params, MACs) and the totals, as a table or as one JSON object.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "opts.h"
#include "nadapt/graph.h"

/* Prints the table or JSON for g; returns 0, or 1 after printing the error. */
static int print_info(const char *path, const nad_graph *g, int batch, int json)
{
    nad_err e = {{0}};
    nad_layer_info li;
    int n = nad_graph_layer_count(g), wname = 4, wop = 2, win = 5, wout = 6;
    long long params = 0, macs = 0;
    for (int i = 0; i < n; i++) {
        if (nad_graph_layer_info(g, i, &li, &e))
            return cli_fail_err("info", &e);
        int l = (int)strlen(li.name);
        wname = l > wname ? l : wname;
        l = (int)strlen(li.op);
        wop = l > wop ? l : wop;
        l = (int)strlen(li.in_shape);
        win = l > win ? l : win;
        l = (int)strlen(li.out_shape);
        wout = l > wout ? l : wout;
        params += li.params;
        macs += li.macs;
    }
    if (json) {
        printf("{\"model\":");
        cli_json_str(stdout, path);
        printf(",\"batch\":%d,\"layers\":[", batch);
    } else {
        printf("model %s, batch %d\n", path, batch);
        printf("%5s  %-*s  %-*s  %-*s  %-*s  %10s  %14s\n", "index", wname, "name", wop, "op", win, "input", wout,
               "output", "params", "MACs");
    }
    for (int i = 0; i < n; i++) {
        if (nad_graph_layer_info(g, i, &li, &e))
            return cli_fail_err("info", &e);
        if (json) {
            printf("%s{\"index\":%d,\"name\":", i ? "," : "", i);
            cli_json_str(stdout, li.name);
            printf(",\"op\":");
            cli_json_str(stdout, li.op);
            printf(",\"input\":%s,\"output\":%s,\"params\":%lld,\"macs\":%lld}", li.in_shape, li.out_shape,
                   (long long)li.params, (long long)li.macs);
        } else {
            printf("%5d  %-*s  %-*s  %-*s  %-*s  %10lld  %14lld\n", i, wname, li.name, wop, li.op, win, li.in_shape,
                   wout, li.out_shape, (long long)li.params, (long long)li.macs);
        }
    }
    if (json)
        printf("],\"total\":{\"layers\":%d,\"params\":%lld,\"macs\":%lld,\"macs_per_image\":%lld}}\n", n, params,
               macs, macs / batch);
    else
        printf("total: %d layers, %lld params, %lld MACs per batch of %d, %lld MACs per image\n", n, params, macs,
               batch, macs / batch);
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_cmd_fail("info", "could not write the output");
    return 0;
}

/* Entry point of `nadapt info`: parses options, loads, prints; returns the exit status. */
int cmd_info(int argc, char **argv)
{
    const char *path;
    long batch = 1;
    int no_fold_bn = 0, json = 0, n_pos, rc;
    const cli_option opts[] = {
        CLI_INT("batch", &batch, "N", "batch size for shapes and MACs", 1, 1 << 20),
        CLI_FLAG("no-fold-bn", &no_fold_bn, "keep BatchNormalization layers"),
        CLI_FLAG("json", &json, "one JSON object: {\"model\", \"batch\", \"layers\": [...], \"total\"}"),
        CLI_END,
    };
    const cli_spec spec = {"info", "MODEL.onnx [options]",
                           "Prints every layer of MODEL.onnx after loading (constants folded, Dropout and\n"
                           "Identity removed, BatchNormalization folded into the preceding Conv/Gemm):\n"
                           "index, name, op, input and output shape, parameters and multiply-accumulates\n"
                           "(Conv and Gemm/MatMul only), then the totals.",
                           opts, 1, 1};
    if ((rc = cli_parse(&spec, argc, argv, &path, &n_pos)))
        return rc < 0 ? 0 : rc;
    nad_err e = {{0}};
    nad_graph *g = NULL;
    if (nad_graph_load_onnx(path, !no_fold_bn, &g, &e))
        return cli_fail_err("info", &e);
    if (nad_graph_infer_shapes(g, (int)batch, &e)) {
        nad_err_prefix(&e, NAD_ESHAPE, "%s: ", path);
        nad_graph_free(g);
        return cli_fail_err("info", &e);
    }
    rc = print_info(path, g, (int)batch, json);
    nad_graph_free(g);
    return rc;
}
