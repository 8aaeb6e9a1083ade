#!/usr/bin/env bash
# What pruning costs, apart from what extra training gives (not a test).
#
# For each fixture: `nadapt adapt` to an energy budget with default settings,
# then the UNPRUNED model fine-tuned with `nadapt train` for as many steps as
# the adapted network's lineage saw (iterations x short steps + long steps,
# same batch, lr and cosine schedule as the long fine-tuning), both scored on
# the Fashion-MNIST test set.  The fixtures were trained for only 3 epochs, so
# fine-tuning alone gains accuracy; the difference between the two rows is
# what pruning cost.
#
#   bench/adapt_vs_finetune.sh [BUDGET] [model ...]     (BUDGET default energy=0.5)
#
# Prints one line per model:
#   adapt <model> <budget> energy <final/original> test <original> -> <adapted> (<pp>) \
#         finetuned-unpruned <acc> steps <n> seconds <adapt wall>
set -euo pipefail
cd "$(dirname "$0")/.."
NAD=${NAD:-build/nadapt}
FMNIST=/usr/share/datasets/fashion-mnist
budget=${1:-energy=0.5}
shift || true
models=${*:-cnn_bn resnet mobilenetv2}
work=$(mktemp -d /tmp/nadapt-bench.XXXXXX)
for m in $models; do
    run=$work/$m
    t0=$(date +%s.%N)
    $NAD adapt examples/fixtures/$m.op13.onnx --target models/eyeriss.yaml --data $FMNIST \
        --budget "$budget" --out "$run" --json >"$run.json"
    t1=$(date +%s.%N)
    # steps of the final network's lineage, from its configuration and history
    short=$(awk '/^short_steps:/{print $2}' "$run/config.yaml")
    long=$(awk '/^long_steps:/{print $2}' "$run/config.yaml")
    lr=$(awk '/^long_lr:/{print $2}' "$run/config.yaml")
    batch=$(awk '/^batch:/{print $2}' "$run/config.yaml")
    iters=$(grep -c '^[0-9]' "$run/history.csv")
    steps=$(( (iters - 1) * short + long ))
    $NAD train examples/fixtures/$m.op13.onnx --data $FMNIST --out "$run/finetuned.onnx" --steps "$steps" \
        --lr "$lr" --schedule cosine --batch "$batch" --threads 2 >/dev/null
    base=$($NAD eval "$run/finetuned.onnx" --data $FMNIST --mean 0.2860 --std 0.3530 --json |
        sed 's/.*"top1": \([0-9.]*\).*/\1/')
    j=$(cat "$run.json")
    ratio=$(echo "$j" | sed 's/.*"energy":{[^}]*"ratio":\([0-9.e+-]*\).*/\1/')
    orig=$(echo "$j" | sed 's/.*"test_top1":{"original":\([0-9.]*\).*/\1/')
    fin=$(echo "$j" | sed 's/.*"test_top1":{[^}]*"final":\([0-9.]*\).*/\1/')
    awk -v m="$m" -v b="$budget" -v r="$ratio" -v o="$orig" -v f="$fin" -v u="$base" -v s="$steps" \
        -v t0="$t0" -v t1="$t1" 'BEGIN { t = t1 - t0
        printf "adapt %s %s energy %.3f test %.4f -> %.4f (%+.2f pp) finetuned-unpruned %.4f (%+.2f pp) steps %d seconds %.0f\n",
               m, b, r, o, f, 100 * (f - o), u, 100 * (f - u), s, t }'
done
echo "runs kept in $work"
