#!/bin/sh
# Trains a fixture architecture from scratch with `nadapt train --init` using
# the exact recipe its torch fixture was trained with (examples/fixtures/
# manifest.tsv: epochs, batch, lr, momentum, weight decay, schedule, seed,
# mean/std; all 60000 training images, no held-out set, no augmentation) and
# compares the test top-1 with torch's.  Passes (exit 0) when nadapt lands
# within 1.0 percentage point of torch.
#
#   bench/train_from_scratch.sh [BUILD_DIR] [MODEL] [THREADS] [INIT]
#
# Defaults: build-release, cnn_bn (its ONNX keeps BatchNormalization, so the
# graph trained is the module torch trained), 1 thread, INIT he (He normal,
# nadapt's default) or torch (PyTorch's default layer init, the one the
# fixture started from).  Takes a few minutes.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build-release}
model=${2:-cnn_bn}
threads=${3:-1}
init=${4:-he}
data=${NAD_FMNIST:-/usr/share/datasets/fashion-mnist}
cli=$build/nadapt
[ -x "$cli" ] || { echo "train_from_scratch: no $cli (build first)" >&2; exit 2; }
row=$(awk -F'\t' -v m="$model" '$1 == m' "$here/examples/fixtures/manifest.tsv")
[ -n "$row" ] || { echo "train_from_scratch: $model not in manifest.tsv" >&2; exit 2; }
set -- $row
torch_top1=$4 epochs=$7 batch=$8 lr=$9
shift 9
momentum=$1 wd=$2 schedule=$3 seed=$4 mean=$5 std=$6
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "recipe: $model init $init epochs $epochs batch $batch lr $lr momentum $momentum wd $wd $schedule seed $seed"
start=$(date +%s)
OPENBLAS_NUM_THREADS=$threads "$cli" train "$here/examples/fixtures/$model.op13.onnx" --data "$data" \
    --out "$out/$model.scratch.onnx" --init --init-scheme "$init" --epochs "$epochs" --batch "$batch" --lr "$lr" \
    --momentum "$momentum" --weight-decay "$wd" --schedule "$schedule" --seed "$seed" \
    --mean "$mean" --std "$std" --holdout 0 --threads "$threads" --test | tee "$out/log"
end=$(date +%s)
ours=$(awk '/^test:/ { print $5 }' "$out/log")
awk -v o="$ours" -v t="$torch_top1" -v s=$((end - start)) 'BEGIN {
    d = (o - t) * 100
    printf "from scratch: nadapt top-1 %.4f, torch top-1 %.4f, difference %+.2f pp (%d s)\n", o, t, d, s
    exit (d < -1.0 || d > 1.0) ? 1 : 0 }'
