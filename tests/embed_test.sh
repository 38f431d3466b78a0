#!/bin/bash
# The embedding API as a host project meets it: install cnnc, build
# examples/embed against the installed package alone, train a quick
# checkpoint with the driver, and check that classify, reading CIFAR-10
# itself, gets exactly the accuracy `cnnc eval` prints, well above chance.
#
# usage: embed_test.sh BUILD_DIR SOURCE_DIR CNNC_BINARY   (CIFAR-10 in $CNNC_DATA)
set -euo pipefail
build=$1 source=$2 cnnc=$3
model=$source/examples/seed.json

fail() {
  echo "embed_test: $*" >&2
  exit 1
}
# CI always sets CNNC_DATA: without it the test fails rather than skipping
# unseen.
[[ -n "${CNNC_DATA:-}" && -d "$CNNC_DATA" ]] ||
  fail "CNNC_DATA must name the CIFAR-10 binary directory (it is '${CNNC_DATA:-}')"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Runs a command quietly, showing its output only if it fails.
quiet() {
  "$@" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; fail "failed: $*"; }
}

quiet cmake --install "$build" --prefix "$tmp/prefix"
headers=$(cd "$tmp/prefix/include" && find . -type f)
[[ $headers == ./cnnc/cnnc.h ]] || fail "installed headers are not just cnnc/cnnc.h: $headers"
quiet cmake -S "$source/examples/embed" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$tmp/prefix"
quiet cmake --build "$tmp/build" -j2

# 5000 images for one epoch: 2000 leave seed.json at about chance on the test set.
quiet "$cnnc" train "$model" --epochs 1 --limit 5000 --test-limit 500 --data "$CNNC_DATA" -o "$tmp/ckpt.safetensors"
eval_out=$("$cnnc" eval "$model" --weights "$tmp/ckpt.safetensors" --limit 500 --data "$CNNC_DATA")
classify_out=$("$tmp/build/classify" "$model" "$tmp/ckpt.safetensors" "$CNNC_DATA" 500)
echo "$eval_out"
echo "$classify_out"

expected=$(sed -n 's/^500 test images - .* - accuracy: \([0-9.]*\)$/\1/p' <<<"$eval_out")
actual=$(sed -n 's/^accuracy \([0-9.]*\) on 500 test images$/\1/p' <<<"$classify_out")
[[ -n $expected && -n $actual ]] || fail "no accuracy found in the output above"
[[ $actual == "$expected" ]] || fail "classify's accuracy $actual differs from cnnc eval's $expected"
awk -v a="$actual" 'BEGIN { exit !(a > 0.2) }' || fail "accuracy $actual is not above chance (0.2)"
echo "embed_test: accuracy $actual, as cnnc eval"
