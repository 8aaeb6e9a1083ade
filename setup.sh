#!/usr/bin/env bash
# nadapt set-up in one command (see README.md):
#   ./setup.sh demo    install Debian packages, build, adapt the shipped model to half its energy on Eyeriss
#                      (Fashion-MNIST), ending with runs/demo-*/curve.svg
#   ./setup.sh test    install, build, run the whole test suite (plain build, then ASan+UBSan build, then a
#                      short libFuzzer run of the ONNX loader)
#   ./setup.sh build   install and build only
#   ./setup.sh bench   install, build, run the benchmarks against the peers (slow)
# Idempotent: packages already installed are not touched; builds are incremental.
set -euo pipefail
cd "$(dirname "$0")"

PKGS="build-essential cmake pkg-config protobuf-c-compiler libprotobuf-c-dev libonnx-dev libopenblas-dev
      liblapacke-dev libyaml-dev libcmocka-dev zlib1g-dev dataset-fashion-mnist"
TEST_PKGS="clang libclang-rt-14-dev librsvg2-bin"
JOBS=$(nproc 2>/dev/null || echo 2)
FMNIST=/usr/share/datasets/fashion-mnist

install_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() { # build DIR [cmake options...]
    local dir=$1
    shift
    cmake -S . -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS"
}

run_tests() { # run_tests DIR
    (cd "$1" && ctest --output-on-failure -j "$JOBS")
}

cmd=${1:-demo}
case "$cmd" in
demo)
    # shellcheck disable=SC2086
    install_packages $PKGS
    build build -DCMAKE_BUILD_TYPE=Release
    model=examples/fixtures/resnet.op13.onnx
    out=runs/demo-$(date +%Y%m%d-%H%M%S)
    mkdir -p runs
    echo "== nadapt eval $model on the Fashion-MNIST test set"
    build/nadapt eval "$model" --data "$FMNIST" --mean 0.2860 --std 0.3530 --batch 64 --threads 2
    echo "== nadapt adapt $model: prune filters (NetAdapt) until it needs half the energy on Eyeriss v1"
    echo "   (channel groups first: what can be pruned and what cannot, and why)"
    build/nadapt adapt "$model" --target models/eyeriss.yaml --budget energy=0.5 --data "$FMNIST" --dry-run
    build/nadapt adapt "$model" --target models/eyeriss.yaml --budget energy=0.5 --data "$FMNIST" --out "$out"
    echo "== per-layer energy of the adapted model (nadapt estimate $out/final.onnx)"
    build/nadapt estimate "$out/final.onnx" --target models/eyeriss.yaml
    echo "== open $out/curve.svg (accuracy vs energy and latency) and $out/breakdown.svg in a browser"
    ;;
build)
    # shellcheck disable=SC2086
    install_packages $PKGS
    build build -DCMAKE_BUILD_TYPE=Release
    ;;
test)
    # shellcheck disable=SC2086
    install_packages $PKGS $TEST_PKGS
    echo "== release build + tests"
    build build -DCMAKE_BUILD_TYPE=Release
    run_tests build
    echo "== libFuzzer: the ONNX loader for 60 s, the YAML and dataset readers for 20 s each, seeded (any crash, leak or UB fails)"
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DNAD_FUZZ=ON >/dev/null
    cmake --build build-fuzz -j "$JOBS" --target fuzz_onnx fuzz_yaml fuzz_data
    mkdir -p build-fuzz/corpus build-fuzz/corpus_yaml build-fuzz/corpus_data
    cp -n examples/fixtures/*.onnx build-fuzz/corpus/ 2>/dev/null || true
    cp -n models/*.yaml examples/workloads/*.yaml build-fuzz/corpus_yaml/ 2>/dev/null || true
    # fuzz_data inputs: a mode byte (0 npy images, 1 npy labels, 2 IDX images, 3 IDX images as .gz,
    # 4 IDX labels, 5 CIFAR batch), a count byte (partner file of count+1 items), then the file.
    (
        cd build-fuzz/corpus_data
        idx_img() { printf '\000\000\010\003\000\000\000\002\000\000\000\004\000\000\000\004'; tail -c 32 ../../examples/fixtures/fmnist_test256_images.npy; }
        { printf '\000\377'; cat ../../examples/fixtures/fmnist_test256_images.npy; } >npy_images
        { printf '\001\377'; cat ../../examples/fixtures/fmnist_test256_labels.npy; } >npy_labels
        { printf '\002\001'; idx_img; } >idx_images
        { printf '\003\001'; idx_img | gzip -n -c; } >idx_images_gz
        { printf '\004\001\000\000\010\001\000\000\000\002\003\007'; } >idx_labels
        px=../../examples/fixtures/fmnist_test256_images.npy
        { printf '\005\000\003'; tail -c 3072 "$px"; printf '\011'; head -c 3072 "$px"; } >cifar
    )
    for f in onnx:corpus:60 yaml:corpus_yaml:20 data:corpus_data:20; do
        IFS=: read -r name corpus secs <<<"$f"
        build-fuzz/fuzz_"$name" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=262144 build-fuzz/"$corpus" \
            >build-fuzz/fuzz_"$name".log 2>&1 || { tail -n 40 build-fuzz/fuzz_"$name".log; exit 1; }
        printf 'fuzz_%s: ' "$name"
        grep -E "^Done|DONE" build-fuzz/fuzz_"$name".log | tail -n 1
    done
    echo "== AddressSanitizer + UBSan build + tests"
    build build-asan -DCMAKE_BUILD_TYPE=Debug -DNAD_SANITIZE=ON
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_tests build-asan
    ;;
bench)
    # shellcheck disable=SC2086
    install_packages $PKGS
    build build -DCMAKE_BUILD_TYPE=Release
    cmake --build build --target bench -j "$JOBS"
    bench/run.sh
    ;;
*)
    echo "usage: ./setup.sh demo|test|build|bench" >&2
    exit 2
    ;;
esac
