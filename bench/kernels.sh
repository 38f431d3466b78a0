#!/usr/bin/env bash
# The convolution kernels of a model (the seed by default: forward,
# backward data and filter gradient of every layer) as fractions of the
# machine's FMA peak, in rounds that each measure the peak right before and
# right after timing the kernels, and take the mean of the two. On a shared
# host the peak itself swings by a third within minutes, so only a fraction
# taken within one round means anything; the summary gives each kernel's
# median over the rounds. Each fraction comes twice: of the kernel's mean
# step, and of its best (--per-op's fastest step), which other tenants
# slow down least.
#
# A batch group's kernels (interleave-batch: ResNet's backward pass) run a
# chunk of the batch at a time, one after the other, and --per-op times the
# group as a whole: its convolutions are then not in the table, and a line
# names the kernels left out. --ungrouped times the step without the pass, so
# that each of them gets a row (the kernels as they run without it).
#
# usage: bench/kernels.sh [--rounds R] [--threads T] [--model FILE] [--batch B] [--build DIR] [--ungrouped]
#
#   --rounds R    rounds of (peak, kernels) (default 3)
#   --threads T   threads for both (default: all usable cores)
#   --model FILE  the model whose training step is timed (default examples/seed.json)
#   --batch B     its batch (default 32)
#   --build DIR   the build directory (default: build/ of the source tree)
#   --ungrouped   time the step with --disable-pass interleave-batch
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build
rounds=3
threads=$(nproc)
model=$root/examples/seed.json
batch=32
grouping=()

die() { echo "kernels: $*" >&2; exit 2; }
positive() { [[ ${1:-} =~ ^[1-9][0-9]*$ ]] || die "$2 needs a positive integer"; }
while (($#)); do
  case $1 in
    --rounds) positive "${2:-}" --rounds; rounds=$2; shift 2 ;;
    --threads) positive "${2:-}" --threads; threads=$2; shift 2 ;;
    --batch) positive "${2:-}" --batch; batch=$2; shift 2 ;;
    --model) [[ -f ${2:-} ]] || die "--model needs a model file"; model=$2; shift 2 ;;
    --build) [[ -n ${2:-} ]] || die "--build needs a directory"; build=$2; shift 2 ;;
    --ungrouped) grouping=(--disable-pass interleave-batch); shift ;;
    -h|--help) sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
cnnc=$build/tools/cnnc
peak_tool=$build/bench/cnnc-fma-peak
[[ -x $cnnc && -x $peak_tool ]] || die "build cnnc and bench/cnnc-fma-peak first (in $build)"
# The benchmark's own setting, as in compare.sh: OpenBLAS tuning variables do not apply.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

isa=$("$cnnc" bench "$model" --batch 1 --runs 1 --warmup 1 --threads 1 --json | sed -n 's/.*"target": "\([a-z0-9]*\)".*/\1/p')
[[ -n $isa ]] || die "cnnc bench failed on $model"
table=$(mktemp)
trap 'rm -f "$table"' EXIT
measure_peak() {
  "$peak_tool" --threads "$threads" --isa "$isa" | awk -v t="$threads" '$2 == "threads=" t {sub("gflops=", "", $3); print $3}'
}
for ((round = 1; round <= rounds; ++round)); do
  before=$(measure_peak)
  profile=$("$cnnc" bench "$model" --mode train --batch "$batch" --threads "$threads" --per-op "${grouping[@]}")
  after=$(measure_peak)
  [[ -n $before && -n $after ]] || die "cnnc-fma-peak printed no $isa figure for $threads threads"
  peak=$(awk -v a="$before" -v b="$after" 'BEGIN {printf "%.1f", (a + b) / 2}')
  echo "== round $round: $isa FMA peak at $threads threads: $before before the kernels, $after after; $peak between"
  echo "$profile" | awk -v round="$round" -v peak="$peak" -v table="$table" '
    NR == 1 {print}
    NR == 2 {printf "%s%9s%9s\n", $0, "of peak", "best"}
    $2 ~ /^conv2d/ {
      share = 100 * $(NF - 2) / peak  # GFLOP/s, before the traffic in MiB and GB/s
      best = share * $3 / $4          # the same of its best step: ms/step over best
      printf "%s%8.1f%%%8.1f%%\n", $0, share, best
      print round, $1, $2, share, best >> table
    }
    $1 == "+" {grouped = grouped " " $2}
    END {if (grouped != "") print "timed within batch groups, not listed (see --ungrouped):" grouped}'
done
echo
echo "median over $rounds rounds, of each round's peak (of the mean step; of the best step):"
median_of() {  # the median of column $1 of the table, per kernel
  sort -k2,2 -k"$1","$1"n "$table" | awk -v column="$1" '
    { name = $2; op[name] = $3; value[name, ++n[name]] = $column + 0 }
    END {
      for (name in n) {
        m = n[name]; mid = int((m + 1) / 2)
        printf "%s %s %.1f\n", name, op[name], m % 2 ? value[name, mid] : (value[name, mid] + value[name, mid + 1]) / 2
      }
    }' | sort
}
join <(median_of 4) <(median_of 5) | awk '{printf "%-40s %-30s %6.1f%% %6.1f%%\n", $1, $2, $3, $5}' | sort -k3,3nr
