#!/bin/sh
# LUT accuracy (issue 10's acceptance): over pruned variants of the shipped
# fixtures, how often the lookup table's whole-network prediction lies within
# +-10% of a direct whole-network measurement with the same back-end.
#
#   bench/lut_accuracy.sh                      # host latency, 12 variants per model (36)
#   SPEC=host:max_seconds=2 VARIANTS=20 bench/lut_accuracy.sh
#   SPEC=model:models/eyeriss.yaml bench/lut_accuracy.sh
#
# For each of cnn_bn, resnet and mobilenetv2: `nadapt lut build` (resumable;
# a point the host back-end refuses as too noisy is measured again on the
# next try), then `nadapt lut check` on VARIANTS pruned variants (every
# prunable channel group kept at a random fraction in [0.25, 1], seed 1).
# Prints each model's summary and the pooled figure.  Timings need a quiet
# machine: run it with nothing else busy, the performance governor, and
# ideally `taskset -c N` (measure/README.md, "The host back-end").
set -eu
cd "$(dirname "$0")/.."
NADAPT=${NADAPT:-build/nadapt}
SPEC=${SPEC:-host}
VARIANTS=${VARIANTS:-12}
OUT=${OUT:-runs/lut-accuracy}
MODELS=${MODELS:-"cnn_bn resnet mobilenetv2"}
mkdir -p "$OUT"
echo "back-end $SPEC, $VARIANTS variants per model, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for m in $MODELS; do
    f=examples/fixtures/$m.op13.onnx
    t=$OUT/$m.lut
    ok=0
    for try in $(seq 1 30); do
        if "$NADAPT" lut build "$f" --backend "$SPEC" --out "$t"; then ok=1; break; fi
    done
    [ $ok = 1 ] || { echo "lut build for $m kept failing" >&2; exit 1; }
    "$NADAPT" lut check "$f" --lut "$t" --backend "$SPEC" --variants "$VARIANTS" --seed 1 --json >"$OUT/$m.check.json"
done
python3 - "$OUT" $MODELS <<'PY'
import json, sys, statistics
out, models = sys.argv[1], sys.argv[2:]
pooled = {}
for m in models:
    d = json.load(open(f"{out}/{m}.check.json"))
    for res, s in d["summary"].items():
        print(f"{m:12s} {res}: {s['within_10pct']}/{s['variants']} within +-10%, "
              f"median |error| {100*s['median_abs_error']:.2f}%, max {100*s['max_abs_error']:.2f}%")
    for v in d["variants"]:
        for res in d["summary"]:
            pooled.setdefault(res, []).append(abs(v[res]["error"]))
for res, errs in pooled.items():
    w = sum(e <= 0.10 for e in errs)
    print(f"all          {res}: {w}/{len(errs)} = {100*w/len(errs):.1f}% within +-10%, "
          f"median |error| {100*statistics.median(errs):.2f}%, max {100*max(errs):.2f}%")
PY
