#!/usr/bin/python3
"""External check: cnnc's `infer` and `grad` agree with PyTorch (float64).

Usage: check_against_torch.py CNNC_BINARY [--with "ARGS"] [MODEL.json ...]

--with adds ARGS to every `cnnc infer` and `cnnc grad` command, to check a
backend or target: --with "--target avx2", --with "--backend reference".

For every model in tests/pytorch/models (or the ones given), in a temporary
directory:
  1. `cnnc init --seed k` writes weights W0; the names, shapes and dtype must
     be exactly those the model format prescribes.
  2. W1 = W0 with random biases and random batch_norm gamma/beta/running
     statistics, written with our own safetensors writer, so that biases and
     inference-mode batch_norm are not trivial.
  3. Random images X (float32, N = 3 or 5) and labels Y (int64, int32 or
     uint8 depending on the model), saved as .npy.
  4. `cnnc infer` with W0 (--batch 2, so the last batch is partial) and with
     W1, against cnnc_torch's model in inference mode.
  5. `cnnc grad` with W1 against PyTorch autograd in training mode (batch
     statistics; mean softmax cross-entropy of the logits, read before a
     final softmax): every gradient and the printed loss. Skipped, and said
     so, for models with dropout rate > 0 (the mask is cnnc's own).

Agreement: for every element, |a - b| / max(|b|, floor * max|b|) < 1e-3,
with b the PyTorch float64 value, max over the tensor. floor is 1e-3 for
logits and the loss and 1e-2 for gradients (see GRAD_FLOOR for why).

Inputs are drawn (deterministically) until PyTorch in float32 meets the same
measure 10x inside the tolerance, so that a correct float32 implementation
passes with a margin and inputs sitting on a kink (a ReLU input or max-pool
tie decided differently by rounding) are avoided.

Prints one line per model and check; exits 1 on any disagreement or failure
(naming the model, the tensor, the worst element and both values), and 1 if
torch cannot be imported.
"""

import glob
import os
import subprocess
import sys
import tempfile
import time

# Extra arguments of every infer and grad command (--with).
BACKEND_ARGS = []

try:
    import numpy as np
    import torch
except ImportError as error:  # CI installs python3-torch: its absence is a failure, not a skip
    print(f"FAIL: cannot import numpy/torch ({error}); install Debian's python3-torch and python3-numpy "
          f"and run with /usr/bin/python3", file=sys.stderr)
    sys.exit(1)

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cnnc_torch  # noqa: E402

TOLERANCE = 1e-3
# Entries smaller than floor * max|b| are compared against that floor (so
# near-zero entries don't explode).
OUTPUT_FLOOR = 1e-3
# Gradients get a 1e-2 floor: the gradient of a conv/dense weight feeding a
# training-mode batch_norm is orthogonal to the weight (batch_norm makes the
# loss scale-invariant in it), so it is a sum of terms that mostly cancel,
# and its small entries carry float32 rounding of ~1e-6 * max|g|. With a
# 1e-3 floor that is right at the tolerance: float32 PyTorch itself misses it
# on most random inputs of these models, and so did a correct cnnc. A 1e-2
# floor still holds every entry above 1% of the largest to 1e-3 relative,
# which no wrong formula, padding or layout passes. The 1e-3-floor figure is
# printed too, for information.
GRAD_FLOOR = 1e-2
CONDITIONING = 1e-4  # inputs are redrawn until float32 PyTorch is this close to float64 PyTorch
MAX_DRAWS = 25
LABEL_DTYPES = (np.int64, np.int32, np.uint8)
COMMAND_TIMEOUT = 60


class Disagreement(Exception):
    pass


def run(args, what):
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Disagreement(f"{what}: timed out after {COMMAND_TIMEOUT}s: {' '.join(args)}")
    if proc.returncode != 0:
        raise Disagreement(f"{what}: exit status {proc.returncode}: {' '.join(args)}\n"
                           f"       stderr: {proc.stderr.strip()}")
    return proc.stdout


def floor_for(tensor_name):
    return OUTPUT_FLOOR if tensor_name in ("logits", "loss") else GRAD_FLOOR


def relative_error(actual, expected, floor):
    """Worst |a-b| / max(|b|, floor * max|b|): (error, flat index)."""
    a = np.asarray(actual, dtype=np.float64).ravel()
    b = np.asarray(expected, dtype=np.float64).ravel()
    if a.size == 0:
        return 0.0, -1
    if not np.all(np.isfinite(a)):
        return float("inf"), int(np.argmin(np.isfinite(a)))
    denominator = np.maximum(np.abs(b), floor * float(np.max(np.abs(b))))
    diff = np.abs(a - b)
    safe = np.where(denominator > 0, denominator, 1.0)
    err = np.where(denominator > 0, diff / safe, np.where(diff > 0, np.inf, 0.0))
    i = int(np.argmax(err))
    return float(err[i]), i


def compare(model_name, check, tensor_name, actual, expected, float32_error=None):
    """Returns the worst error; raises Disagreement beyond the tolerance."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        raise Disagreement(f"{model_name}: {check}: {tensor_name}: shape {list(actual.shape)} from cnnc, "
                           f"{list(expected.shape)} expected")
    floor = floor_for(tensor_name)
    err, i = relative_error(actual, expected, floor)
    if not err < TOLERANCE:
        where = list(map(int, np.unravel_index(i, expected.shape))) if expected.shape else []
        context = "" if float32_error is None else f"; float32 PyTorch's own error here: {float32_error:.2g}"
        raise Disagreement(
            f"{model_name}: {check}: {tensor_name}: relative error {err:.3g} >= {TOLERANCE:g} at {where}: "
            f"cnnc {float(actual.ravel()[i]):.9g}, pytorch {float(expected.ravel()[i]):.9g} "
            f"(max |pytorch| {float(np.max(np.abs(expected))):.6g}, floor {floor:g} * max{context})")
    return err


def randomise(weights, model, rng):
    """W1: random biases and batch_norm gamma/beta/running stats; weights kept."""
    out = dict(weights)
    for layer in model.layers:
        n = layer.name
        if layer.op in ("conv2d", "dense") and f"{n}.bias" in out:
            out[f"{n}.bias"] = (0.2 * rng.standard_normal(out[f"{n}.bias"].shape)).astype(np.float32)
        elif layer.op == "batch_norm":
            c = out[f"{n}.weight"].shape
            sign = rng.choice([-1.0, 1.0], size=c, p=[0.25, 0.75])
            out[f"{n}.weight"] = (sign * rng.uniform(0.5, 1.5, size=c)).astype(np.float32)
            out[f"{n}.bias"] = (0.3 * rng.standard_normal(c)).astype(np.float32)
            out[f"{n}.running_mean"] = (0.5 * rng.standard_normal(c)).astype(np.float32)
            out[f"{n}.running_var"] = rng.uniform(0.3, 3.0, size=c).astype(np.float32)
    return out


def torch_params(arrays, dtype=np.float64):
    return {k: torch.from_numpy(np.asarray(v, dtype=dtype)) for k, v in arrays.items()}


def pytorch_results(model, w0, w1, x, y, dtype):
    """Everything cnnc is compared on, computed by PyTorch in `dtype`:
    {"infer W0": logits, "infer W1": logits, "loss": loss, <param>: gradient}."""
    xt = torch.from_numpy(x.astype(dtype))
    out = {}
    with torch.no_grad():
        for label, weights in (("W0", w0), ("W1", w1)):
            out[f"infer {label}"] = model.forward(xt, torch_params(weights, dtype), training=False).numpy()
    if not model.has_random_dropout():
        loss, grads = model.loss_and_grads(xt, torch.from_numpy(y.astype(np.int64)), torch_params(w1, dtype))
        out["loss"] = np.float64(loss)
        out.update(grads)
    return out


def float32_errors(reference, single):
    """Per result, float32 PyTorch's error against float64 by the check's measure."""
    return {k: relative_error(single[k], reference[k], floor_for("logits" if k.startswith("infer") else k))[0]
            for k in reference}


def pick_inputs(model, w0, w1, n, classes, label_dtype, rng):
    """Draws images and labels until float32 PyTorch agrees with float64
    PyTorch within CONDITIONING on every result (or keeps the best of
    MAX_DRAWS). Returns (x, y, reference results, float32 errors, draw)."""
    best = None
    for draw in range(1, MAX_DRAWS + 1):
        x = rng.standard_normal((n,) + model.input_shape).astype(np.float32)
        y = rng.integers(0, classes, size=n).astype(label_dtype)
        reference = pytorch_results(model, w0, w1, x, y, np.float64)
        errors = float32_errors(reference, pytorch_results(model, w0, w1, x, y, np.float32))
        worst = max(errors.values())
        if best is None or worst < best[0]:
            best = (worst, (x, y, reference, errors, draw))
        if worst < CONDITIONING:
            break
    return best[1]


def check_model(cnnc, path, index, workdir, report):
    """Runs the checks of one model; report(ok, text) gets one call per check.
    A failed infer check does not stop the grad check; a failed init stops
    the model."""
    model = cnnc_torch.Model(path)
    name = os.path.splitext(os.path.basename(path))[0]
    rng = np.random.default_rng(1000 + index)
    n = 3 if index % 2 == 0 else 5
    label_dtype = LABEL_DTYPES[index % len(LABEL_DTYPES)]
    model_file = os.path.join(workdir, "model.json")
    with open(path) as src, open(model_file, "w") as dst:
        dst.write(src.read())
    files = {k: os.path.join(workdir, f) for k, f in (("W0", "w0.safetensors"), ("W1", "w1.safetensors"),
                                                      ("x", "x.npy"), ("y", "y.npy"), ("g", "g.safetensors"))}

    # 1. init: exactly the prescribed names, shapes and dtype.
    seed = 7 + index
    run([cnnc, "init", model_file, "-o", files["W0"], "--seed", str(seed)], f"{name}: cnnc init")
    w0, metadata = cnnc_torch.read_safetensors(files["W0"])
    expected = {p: shape for p, shape, _ in model.parameters()}
    if set(w0) != set(expected):
        raise Disagreement(f"{name}: init: parameter names differ: missing {sorted(set(expected) - set(w0))}, "
                           f"unexpected {sorted(set(w0) - set(expected))}")
    for p, shape in expected.items():
        if w0[p].shape != tuple(shape) or w0[p].dtype != np.float32:
            raise Disagreement(f"{name}: init: {p} is {w0[p].dtype}{list(w0[p].shape)}, expected float32{list(shape)}")
    report(True, f"init --seed {seed}: {len(w0)} tensors, names and shapes as specified")

    # 2. W1 and the inputs.
    w1 = randomise(w0, model, rng)
    cnnc_torch.write_safetensors(files["W1"], w1, metadata)
    x, y, reference, f32_errors, draw = pick_inputs(model, w0, w1, n, model.output_shape[0], label_dtype, rng)
    np.save(files["x"], x)
    np.save(files["y"], y)
    report(True, f"inputs: N={n}, {y.dtype} labels, draw {draw}: float32 PyTorch within "
                 f"{max(f32_errors.values()):.1e} of float64 on it")

    # 3. infer (inference mode) with both weight files.
    for label, extra in (("W0", ["--batch", "2"]), ("W1", [])):
        try:
            out_file = os.path.join(workdir, f"logits_{label}.npy")
            run([cnnc, "infer", model_file, "--weights", files[label], "--input", files["x"], "-o", out_file] + extra
                + BACKEND_ARGS,
                f"{name}: cnnc infer {label}")
            got = np.load(out_file)
            if got.dtype != np.float32:
                raise Disagreement(f"{name}: infer {label}: logits are {got.dtype}, expected float32")
            key = f"infer {label}"
            err = compare(name, key, "logits", got, reference[key], f32_errors[key])
            what = "probabilities" if model.ends_in_softmax() else "logits"
            report(True, f"infer {label} ({' '.join(extra) or 'default batch'}): worst relative error {err:.2e} "
                         f"over {got.size} {what}")
        except Disagreement as error:
            report(False, str(error))

    # 4. grad (training mode).
    if model.has_random_dropout():
        report(True, "grad: skipped (dropout with rate > 0: its mask is cnnc's own)")
        return
    try:
        check_grad(cnnc, name, model, model_file, files, expected, reference, f32_errors, report)
    except Disagreement as error:
        report(False, str(error))


def check_grad(cnnc, name, model, model_file, files, expected, reference, f32_errors, report):
    """Gradients and loss of `cnnc grad` vs. PyTorch autograd in training
    mode. Every disagreeing tensor is reported, not only the first."""
    stdout = run([cnnc, "grad", model_file, "--weights", files["W1"], "--input", files["x"], "--labels", files["y"],
                  "-o", files["g"]] + BACKEND_ARGS, f"{name}: cnnc grad")
    loss_lines = [line for line in stdout.splitlines() if line.startswith("loss ")]
    if len(loss_lines) != 1:
        raise Disagreement(f"{name}: grad: expected one `loss <value>` line on stdout, got {stdout!r}")
    got_loss = float(loss_lines[0].split()[1])
    grads, _ = cnnc_torch.read_safetensors(files["g"])
    trainable = model.trainable_names()
    missing = set(trainable) - set(grads)
    unexpected = set(grads) - set(expected)
    if missing or unexpected:
        raise Disagreement(f"{name}: grad: gradient names differ: missing {sorted(missing)}, "
                           f"unexpected {sorted(unexpected)}")
    problems = []
    loss_err = float("nan")
    try:
        loss_err = compare(name, "grad", "loss", np.float64(got_loss), reference["loss"], f32_errors["loss"])
    except Disagreement as error:
        problems.append(str(error))
    worst, worst_name, worst_strict = 0.0, "", 0.0
    for p in trainable:
        try:
            if grads[p].dtype != np.float32 or grads[p].shape != reference[p].shape:
                raise Disagreement(f"{name}: grad: {p} is {grads[p].dtype}{list(grads[p].shape)}, "
                                   f"expected float32{list(reference[p].shape)}")
            err = compare(name, "grad", p, grads[p], reference[p], f32_errors[p])
            worst_strict = max(worst_strict, relative_error(grads[p], reference[p], OUTPUT_FLOOR)[0])
            if err >= worst:
                worst, worst_name = err, p
        except Disagreement as error:
            problems.append(str(error))
    if problems:
        raise Disagreement("\n     ".join(problems))
    report(True, f"grad: loss cnnc {got_loss:.9g} pytorch {reference['loss']:.9g} (relative error {loss_err:.1e}); "
                 f"worst gradient relative error {worst:.2e} ({worst_name}) over {len(trainable)} tensors "
                 f"[{worst_strict:.1e} with a {OUTPUT_FLOOR:g} floor]")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cnnc = os.path.abspath(argv[1])
    args = argv[2:]
    if args[:1] == ["--with"] and len(args) >= 2:
        BACKEND_ARGS.extend(args[1].split())
        args = args[2:]
    if not (os.path.isfile(cnnc) and os.access(cnnc, os.X_OK)):
        print(f"FAIL: {cnnc} is not an executable", file=sys.stderr)
        return 1
    torch.set_num_threads(1)  # tiny tensors: threads only add contention on a loaded machine
    here = os.path.dirname(os.path.abspath(__file__))
    all_models = sorted(glob.glob(os.path.join(here, "models", "*.json")))
    models = [os.path.abspath(p) for p in args] or all_models
    if not models:
        print("FAIL: no models found under tests/pytorch/models", file=sys.stderr)
        return 1
    failures = []
    failed_models = 0
    start = time.monotonic()
    for path in models:
        name = os.path.splitext(os.path.basename(path))[0]
        index = all_models.index(path) if path in all_models else len(all_models)
        t0 = time.monotonic()
        model_failures = []

        def report(ok, text):
            if ok:
                print(f"ok   {name}: {text}")
            else:
                model_failures.append(text)
                print(f"FAIL {text}")
            sys.stdout.flush()

        with tempfile.TemporaryDirectory(prefix=f"cnnc_torch_{name}_") as workdir:
            try:
                check_model(cnnc, path, index, workdir, report)
            except Disagreement as error:
                report(False, str(error))
            except Exception as error:  # a malformed model or a bug on our side: a failure all the same
                report(False, f"{name}: {type(error).__name__}: {error}")
        print(f"{'ok  ' if not model_failures else 'FAIL'} {name}: done in {time.monotonic() - t0:.1f}s")
        failures.extend(model_failures)
        failed_models += bool(model_failures)
    print(f"{len(models) - failed_models}/{len(models)} models agree with PyTorch float64 "
          f"(tolerance {TOLERANCE:g}) in {time.monotonic() - start:.1f}s")
    if failures:
        print("\nDisagreements with PyTorch:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
