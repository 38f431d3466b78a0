#!/usr/bin/env bash
# cnnc against PyTorch on the same models, batches and thread counts, side
# by side, plus the machine's measured FMA peak. Builds nothing.
#
# usage: bench/compare.sh [--rounds N] [--threads T] [--runs R] [--build DIR] [--only REGEX] [--keep DIR]
#
#   --rounds N    rounds of every case, cnnc then PyTorch in each (default 3); the table gives
#                 medians over the rounds, and of each round's ratio
#   --threads T   threads for cnnc and PyTorch (default: all usable cores)
#   --runs R      timed runs of both per round (default: each tool's own, 5); the median is reported
#   --build DIR   the build directory (default: build/ of the source tree)
#   --only REGEX  only the cases whose name matches (e.g. 'seed-infer')
#   --keep DIR    keep every tool's JSON output and stderr in DIR
#
# Cases: seed-train-b32, seed-infer-b256, seed-infer-b1, resnet_small-train-b128,
# resnet_small-infer-b128, resnet_small-infer-b1.
# For each: `cnnc bench MODEL --mode M --batch B --threads T --json` and
# `bench/pytorch_peer.py` with the same arguments (run without
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which slow PyTorch down), one right
# after the other, so that each round's ratio is of two measurements
# moments apart; the rounds go over all cases in turn, so that the cases'
# rounds fall in different spells of a shared machine. Runs are
# sequential; run on an otherwise idle machine (see bench/README.md).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build
python=/usr/bin/python3
threads=$(nproc)
rounds=3
runs=""
only=""
keep=""

die() { echo "compare: $*" >&2; exit 2; }
while (($#)); do
  case $1 in
    --rounds) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--rounds needs a positive integer"; rounds=$2; shift 2 ;;
    --threads) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--threads needs a positive integer"; threads=$2; shift 2 ;;
    --runs) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive integer"; runs=$2; shift 2 ;;
    --build) [[ -n ${2:-} ]] || die "--build needs a directory"; build=$2; shift 2 ;;
    --only) [[ -n ${2:-} ]] || die "--only needs a pattern"; only=$2; shift 2 ;;
    --keep) [[ -n ${2:-} ]] || die "--keep needs a directory"; keep=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

if [[ ! -d $build ]]; then
  echo "compare: $build does not exist: run tools/setup.sh first (it configures and builds cnnc in build/)" >&2
  exit 1
fi
fma_peak=$build/bench/cnnc-fma-peak
cnnc=$build/tools/cnnc
if [[ ! -x $fma_peak ]]; then
  echo "compare: $fma_peak is missing: run tools/setup.sh (or cmake --build $build) to build it" >&2
  exit 1
fi
[[ -x $python ]] || { echo "compare: $python is missing: run tools/setup.sh (python3-torch, python3-numpy)" >&2; exit 1; }

if [[ -n $keep ]]; then
  mkdir -p "$keep" || die "cannot create $keep"
  out=$(cd "$keep" && pwd)
else
  out=$(mktemp -d "${TMPDIR:-/tmp}/cnnc-compare.XXXXXX")
  trap 'rm -rf "$out"' EXIT
fi

cases=(
  "seed-train-b32 examples/seed.json train 32"
  "seed-infer-b256 examples/seed.json infer 256"
  "seed-infer-b1 examples/seed.json infer 1"
  "resnet_small-train-b128 examples/resnet_small.json train 128"
  "resnet_small-infer-b128 examples/resnet_small.json infer 128"
  "resnet_small-infer-b1 examples/resnet_small.json infer 1"
)

selected=()
for spec in "${cases[@]}"; do
  read -r name _ <<< "$spec"
  [[ -z $only || $name =~ $only ]] && selected+=("$spec")
done
((${#selected[@]})) || die "no case matches --only '$only'"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) usable cores; threads $threads"
# How busy the CPUs are before we start (1 s sample of /proc/stat): another
# process using them makes every figure below noise.
cpu_busy() {
  local _ user nice system idle iowait irq softirq steal
  read -r _ user nice system idle iowait irq softirq steal _ < /proc/stat
  echo $((user + nice + system + irq + softirq + steal)) $((user + nice + system + idle + iowait + irq + softirq + steal))
}
read -r busy0 total0 <<< "$(cpu_busy)"
sleep 1
read -r busy1 total1 <<< "$(cpu_busy)"
busy_percent=$(( total1 > total0 ? 100 * (busy1 - busy0) / (total1 - total0) : 0 ))
echo "CPU busy before the start: ${busy_percent}% of all cores$( ((busy_percent >= 5)) && echo \
  " -- another process is running: the figures below will be noisy; run on an idle machine")"

# 1. The FMA peak, on 1 and T threads.
echo
echo "== FMA peak ($fma_peak --threads $threads)"
if ! "$fma_peak" --threads "$threads" --json > "$out/fma_peak.json" 2> "$out/fma_peak.err"; then
  echo "compare: cnnc-fma-peak failed: $(head -n1 "$out/fma_peak.err")" >&2
  echo '{"results": []}' > "$out/fma_peak.json"
fi

# 2. Is `cnnc bench` there?
have_bench=1
if [[ ! -x $cnnc ]]; then
  echo "compare: $cnnc is missing: run tools/setup.sh; cnnc columns stay empty" >&2
  have_bench=0
elif ! "$cnnc" bench --help > /dev/null 2>&1; then
  echo "compare: this cnnc has no 'bench' subcommand (rebuild with tools/setup.sh if it was added since): cnnc columns stay empty" >&2
  have_bench=0
fi

# 3. The cases, round after round.
ran=()
for spec in "${selected[@]}"; do
  read -r name _ <<< "$spec"
  ran+=("$name")
done
for ((round = 1; round <= rounds; ++round)); do
  for spec in "${selected[@]}"; do
    read -r name model mode batch <<< "$spec"
    echo "== round $round: $name: $model --mode $mode --batch $batch --threads $threads"
    if ((have_bench)); then
      "$cnnc" bench "$root/$model" --mode "$mode" --batch "$batch" --threads "$threads" ${runs:+--runs "$runs"} --json \
        > "$out/$name.cnnc.$round.json" 2> "$out/$name.cnnc.err"
      echo $? > "$out/$name.cnnc.rc"
    fi
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python" "$root/bench/pytorch_peer.py" "$root/$model" \
      --mode "$mode" --batch "$batch" --threads "$threads" ${runs:+--runs "$runs"} --json \
      > "$out/$name.torch.$round.json" 2> "$out/$name.torch.err"
    echo $? > "$out/$name.torch.rc"
  done
done

# 4. The table.
echo
"$python" - "$out" "$threads" "$have_bench" "$rounds" "${ran[@]}" <<'EOF'
import json, os, statistics, sys

out, threads, have_bench, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
names = sys.argv[5:]

def load(path):
    """The last line of a tool's stdout that parses as a JSON object, or None."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None

def first_error(name, tool):
    try:
        with open(os.path.join(out, f"{name}.{tool}.err")) as f:
            lines = [l.strip() for l in f if l.strip() and "warning" not in l]
    except OSError:
        lines = []
    try:
        with open(os.path.join(out, f"{name}.{tool}.rc")) as f:
            rc = f.read().strip()
    except OSError:
        rc = "?"
    return f"exit {rc}" + (f": {lines[-1]}" if lines else "")

def number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

peaks = {}  # (isa, threads) -> GFLOP/s
fma = load(os.path.join(out, "fma_peak.json")) or {}
for r in fma.get("results", []):
    peaks[(r["isa"], r["threads"])] = r["gflops"]
if peaks:
    for (isa, t), g in sorted(peaks.items(), key=lambda kv: (kv[0][0] != "avx512", kv[0][1])):
        print(f"FMA peak {isa:<6} threads={t}: {g:8.1f} GFLOP/s  ({g / t:.1f} per thread)")
else:
    print("FMA peak: not measured")
print()

def median(values):
    return statistics.median(values) if values else None

def rounds_of(name, tool):
    """The JSON object of each round of a tool on a case (None where it failed)."""
    return [load(os.path.join(out, f"{name}.{tool}.{r}.json")) for r in range(1, rounds + 1)]

def best(pt):
    """PyTorch's best variant and its images/s in one round, or (None, None)."""
    if not pt or not pt.get("best"):
        return None, None
    return pt["best"], number(pt["variants"][pt["best"]].get("images_per_s"))

rows, notes, blas = [], [], set()
if not have_bench:
    notes.append("cnnc bench was not run: this build has no 'bench' subcommand, or no cnnc (see the message above)")
for name in names:
    cns = rounds_of(name, "cnnc") if have_bench else []
    pts = rounds_of(name, "torch")
    c_each = [number(cn.get("images_per_s")) if cn else None for cn in cns]
    p_each = [best(pt)[1] for pt in pts]
    c_ips = median([c for c in c_each if c])
    c_gflops = median([g for g in (number(cn.get("gflops")) if cn else None for cn in cns) if g is not None])
    p_ips = median([p for p in p_each if p])
    ratios = [c / p for c, p in zip(c_each, p_each) if c and p]
    if have_bench and len([c for c in c_each if c]) < rounds:
        notes.append(f"{name}: cnnc bench failed ({first_error(name, 'cnnc')})")
    variants = [best(pt)[0] for pt in pts if best(pt)[1]]
    p_variant = max(set(variants), key=variants.count) if variants else None
    for pt in pts:
        if not pt:
            continue
        blas.add(pt.get("blas", "unknown"))
        for v, r in pt.get("variants", {}).items():
            note = f"{name}: PyTorch variant {v} failed: {r['error']}" if r.get("error") else None
            if note and note not in notes:
                notes.append(note)
    if len(variants) < rounds:
        notes.append(f"{name}: pytorch_peer.py failed ({first_error(name, 'torch')})")
    # The peak of the ISA cnnc ran (its "target"), else the best measured, at T threads.
    isa = next((cn.get("target") for cn in cns if cn), None)
    peak = peaks.get((isa, threads)) if isa else None
    if peak is None:
        candidates = [g for (i, t), g in peaks.items() if t == threads]
        peak = max(candidates) if candidates else None
    ratio = median(ratios)
    fraction = c_gflops / peak if c_gflops is not None and peak else None
    rows.append((name,
                 f"{c_ips:.1f}" if c_ips else "-",
                 f"{p_ips:.1f} ({p_variant})" if p_ips else "-",
                 f"{ratio:.2f}x" if ratio else "-",
                 f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "-",
                 f"{c_gflops:.1f}" if c_gflops is not None else "-",
                 f"{100 * fraction:.1f}%" if fraction is not None else "-"))

header = ("case", "cnnc img/s", "PyTorch best img/s (variant)", "cnnc/PyTorch", "rounds' range", "cnnc GFLOP/s",
          "of FMA peak")
widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
line = lambda r: "  ".join(c.ljust(w) if i in (0, 2) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
print(line(header))
print("  ".join("-" * w for w in widths))
for r in rows:
    print(line(r))
print()
variant_names = []
for name in names:
    for pt in rounds_of(name, "torch"):
        for v in (pt or {}).get("variants", {}):
            if v not in variant_names:
                variant_names.append(v)
if variant_names:
    print("PyTorch img/s per variant, median over the rounds (failed or not run: -)")
    vrows = [("case",) + tuple(variant_names)]
    for name in names:
        pts = [pt for pt in rounds_of(name, "torch") if pt]
        cells = []
        for v in variant_names:
            each = [number(pt.get("variants", {}).get(v, {}).get("images_per_s")) for pt in pts]
            value = median([e for e in each if e])
            cells.append(f"{value:.1f}" if value else "-")
        vrows.append((name,) + tuple(cells))
    vwidths = [max(len(r[i]) for r in vrows) for i in range(len(vrows[0]))]
    for r in vrows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, vwidths))))
    print()
print(f"threads={threads}; {rounds} round(s), cnnc then PyTorch in each; img/s: medians over the rounds of each tool's"
      " median of timed runs after warm-up; cnnc/PyTorch: the median of the rounds' ratios (> 1: cnnc is faster).")
print("'of FMA peak': cnnc's GFLOP/s (conv + dense multiply-adds) over the measured peak of its ISA at the same threads.")
if "reference" in blas:
    print("note: PyTorch ran on Debian's reference BLAS: its eager variants (dense layers, batch-1 convolutions)"
          " are slower than they could be; the oneDNN ones are not affected (bench/README.md).")
for note in notes:
    print("note:", note)
EOF
