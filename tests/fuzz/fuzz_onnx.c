/*
 * libFuzzer harness for the ONNX reader and writer: parse arbitrary bytes,
 * and when they parse, run the passes nad_graph_load_onnx runs, shape
 * inference at batch 2 and the writer, freeing everything.  Any crash, leak
 * or sanitizer report is a bug; error statuses are expected.
 *
 *     CC=clang cmake -S . -B build-fuzz -DNAD_FUZZ=ON && cmake --build build-fuzz --target fuzz_onnx
 *     ./build-fuzz/fuzz_onnx -max_total_time=60 corpus/ examples/fixtures/
 */
#include <stdint.h>
#include <stdlib.h>

#include "graph/graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nad_graph *g = NULL;
    nad_err e;
    if (nad_graph_from_onnx_bytes(data, size, "fuzz", &g, &e) != NAD_OK)
        return 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    /* The raw graph must always be writable. */
    if (nad_graph_to_onnx_bytes(g, &buf, &len, &e) == NAD_OK)
        free(buf);
    if (nad_graph_simplify(g, 1, &e) == NAD_OK && nad_graph_infer_shapes(g, 2, &e) == NAD_OK &&
        nad_graph_to_onnx_bytes(g, &buf, &len, &e) == NAD_OK)
        free(buf);
    nad_graph_free(g);
    return 0;
}
