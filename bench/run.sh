#!/bin/sh
# Inference benchmark: nadapt's engine against onnxruntime-node on the
# Fashion-MNIST fixture models, in one run, same thread count, same images.
#
#   bench/run.sh [--threads N] [--reps N] [--seconds S] [--batches 1,64] [model ...]
#
# Environment:
#   NAD_BUILD_DIR  build directory to use (default: build-bench in the repo);
#                  configured as Release and the bench target built if needed
#   NAD_ORT_DIR    where onnxruntime-node lives (default /tmp/ortpeer); set up
#                  there with npm when missing, never inside the repository
#
# Prints both tools' rows (see bench/bench_infer.c and bench/ort_peer.js), then
# a table: model, batch, median images/s of each, and nadapt / onnxruntime.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
build=${NAD_BUILD_DIR:-$here/build-bench}
ort_dir=${NAD_ORT_DIR:-/tmp/ortpeer}

if [ ! -d "$ort_dir/node_modules/onnxruntime-node" ]; then
    echo "# installing onnxruntime-node into $ort_dir" >&2
    mkdir -p "$ort_dir"
    (cd "$ort_dir" && { [ -f package.json ] || npm init -y >/dev/null; } &&
        ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node >/dev/null)
fi

if [ ! -x "$build/bench_infer" ] || [ -n "${NAD_REBUILD:-}" ]; then
    cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" --target bench_infer -j2 >/dev/null
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM

# Options go to both tools; model names (arguments not starting with '-' and
# not an option's value) are run one at a time, alternating the two tools, so
# that a change in machine load hits both sides alike.
opts=""
models=""
while [ $# -gt 0 ]; do
    case "$1" in
        --threads|--reps|--seconds|--batches) opts="$opts $1 $2"; shift 2 ;;
        -*) opts="$opts $1"; shift ;;
        *) models="$models $1"; shift ;;
    esac
done
[ -n "$models" ] || models="cnn_bn resnet mobilenetv2 concat mlp_pool"

echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
for m in $models; do
    # shellcheck disable=SC2086
    "$build/bench_infer" --no-conv $opts "$m" | grep -v '^gemm' | tee -a "$out"
    # shellcheck disable=SC2086
    NAD_ORT_DIR="$ort_dir" node "$here/bench/ort_peer.js" $opts "$m" | tee -a "$out"
done
# shellcheck disable=SC2086
"$build/bench_infer" $opts --batches 64 $models 2>/dev/null | grep -E '^(conv|gemm)' || true
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

echo
awk -F'\t' '
    $1 == "infer" { nad[$2 "\t" $3] = $5; order[++n] = $2 "\t" $3 }
    $1 == "ort"   { ort[$2 "\t" $3] = $5 }
    END {
        printf "%-12s %6s %12s %12s %8s\n", "model", "batch", "nadapt img/s", "ort img/s", "ratio"
        for (i = 1; i <= n; i++) {
            k = order[i]; split(k, f, "\t")
            r = (k in ort && ort[k] > 0) ? sprintf("%.2f", nad[k] / ort[k]) : "-"
            printf "%-12s %6s %12s %12s %8s\n", f[1], f[2], nad[k], (k in ort) ? ort[k] : "-", r
        }
    }' "$out"
