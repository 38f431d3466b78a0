#!/usr/bin/python3
"""External check: cnnc's `infer` and `grad` agree with PyTorch (float64).

Usage: check_against_torch.py CNNC_BINARY [MODEL.json ...]

For every model in tests/pytorch/models (or the ones given), in a temporary
directory:
  1. `cnnc init --seed k` writes weights W0; the names and shapes must be
     exactly those the model format prescribes.
  2. W1 = W0 with random biases, batch_norm gamma/beta and running
     statistics (written with our own safetensors writer), so that biases
     and inference-mode batch_norm are not trivial.
  3. `cnnc infer` with W0 (--batch 2, so that N does not divide evenly) and
     with W1 vs. the PyTorch model in inference mode.
  4. `cnnc grad` with W1 vs. PyTorch autograd in training mode (batch
     statistics, mean softmax cross-entropy of the logits before a final
     softmax), every gradient and the printed loss. Skipped (and said so)
     for models with random dropout, whose mask is cnnc's own.
Agreement: |a - b| / max(|b|, 1e-3 * max|b|) < 1e-3 for every element of
every tensor (b = PyTorch). One line per model and check; exit status 1 on
any disagreement or failure, with the model, tensor, worst element and
values.
"""

import glob
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    import torch
except ImportError as error:  # CI installs python3-torch: its absence is a failure, not a skip
    print(f"FAIL: cannot import torch ({error}); install Debian's python3-torch and run with /usr/bin/python3",
          file=sys.stderr)
    sys.exit(1)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cnnc_torch  # noqa: E402

TOLERANCE = 1e-3
SCALE_FRACTION = 1e-3
LABEL_DTYPES = (np.int64, np.int32, np.uint8)
COMMAND_TIMEOUT = 60
CONDITIONING = 1e-4  # inputs are drawn until float32 PyTorch is this close to float64 PyTorch
MAX_DRAWS = 20


class Disagreement(Exception):
    pass


def run(args, what):
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Disagreement(f"{what}: timed out after {COMMAND_TIMEOUT}s: {' '.join(args)}")
    if proc.returncode != 0:
        raise Disagreement(f"{what}: exit status {proc.returncode}: {' '.join(args)}\n"
                           f"    stderr: {proc.stderr.strip()}\n    stdout: {proc.stdout.strip()}")
    return proc.stdout


def relative_error(actual, expected):
    """Worst |a-b| / max(|b|, 1e-3 max|b|): (error, flat index)."""
    a = np.asarray(actual, dtype=np.float64).ravel()
    b = np.asarray(expected, dtype=np.float64).ravel()
    if a.size == 0:
        return 0.0, -1
    if not np.all(np.isfinite(a)):
        i = int(np.argmin(np.isfinite(a)))
        return float("inf"), i
    scale = SCALE_FRACTION * float(np.max(np.abs(b)))
    denominator = np.maximum(np.abs(b), scale)
    diff = np.abs(a - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(denominator > 0, diff / np.where(denominator > 0, denominator, 1.0),
                       np.where(diff > 0, np.inf, 0.0))
    i = int(np.argmax(err))
    return float(err[i]), i


def compare(model_name, check, tensor_name, actual, expected):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        raise Disagreement(f"{model_name}: {check}: {tensor_name}: shape {list(actual.shape)} from cnnc, "
                           f"{list(expected.shape)} expected")
    err, i = relative_error(actual, expected)
    if not err < TOLERANCE:
        where = np.unravel_index(i, expected.shape) if expected.shape else ()
        raise Disagreement(
            f"{model_name}: {check}: {tensor_name}: relative error {err:.3g} >= {TOLERANCE:g} at "
            f"{list(map(int, where))}: cnnc {float(actual.ravel()[i]):.9g}, pytorch {float(expected.ravel()[i]):.9g} "
            f"(max |pytorch| over the tensor {float(np.max(np.abs(expected))):.6g})")
    return err


def randomise(weights, model, rng):
    """W1: random biases, batch_norm gamma/beta/running stats; weights kept."""
    out = dict(weights)
    for layer in model.layers:
        n = layer.name
        if layer.op in ("conv2d", "dense") and f"{n}.bias" in out:
            b = out[f"{n}.bias"]
            out[f"{n}.bias"] = (0.2 * rng.standard_normal(b.shape)).astype(np.float32)
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


def float32_sensitivity(model, w0, w1, x, y):
    """How far PyTorch in float32 lands from PyTorch in float64 on these
    inputs, by the check's own measure, over every compared tensor. A draw
    where float32 arithmetic itself cannot meet the tolerance (e.g. batch
    statistics over 3 samples whose mean dwarfs their spread) says nothing
    about cnnc's correctness, only about rounding."""
    worst = 0.0
    results = {}
    for dtype in (np.float32, np.float64):
        xt = torch.from_numpy(x.astype(dtype))
        with torch.no_grad():
            logits = [model.forward(xt, torch_params(w, dtype), training=False).numpy() for w in (w0, w1)]
        grads = {}
        if not model.has_random_dropout():
            loss, grads = model.loss_and_grads(xt, torch.from_numpy(y.astype(np.int64)), torch_params(w1, dtype))
            grads["loss"] = np.float64(loss)
        results[dtype] = logits + [grads[k] for k in sorted(grads)]
    for a, b in zip(results[np.float32], results[np.float64]):
        worst = max(worst, relative_error(a, b)[0])
    return worst


def pick_inputs(model, w0, w1, n, classes, label_dtype, rng):
    """Random images and labels; draws are repeated (deterministically) until
    float32 PyTorch agrees with float64 PyTorch to CONDITIONING, i.e. 10x
    inside the tolerance, so that a correct float32 implementation passes
    with a margin. Returns (x, y, sensitivity, draw number)."""
    best = None
    for draw in range(1, MAX_DRAWS + 1):
        x = rng.standard_normal((n,) + model.input_shape).astype(np.float32)
        y = rng.integers(0, classes, size=n).astype(label_dtype)
        sensitivity = float32_sensitivity(model, w0, w1, x, y)
        if best is None or sensitivity < best[2]:
            best = (x, y, sensitivity, draw)
        if sensitivity < CONDITIONING:
            break
    return best


def check_model(cnnc, path, index, workdir, report):
    """Runs the checks of one model; report(ok, text) gets one call per check.
    A failed infer check does not stop the grad check (and vice versa); a
    failed init stops the model."""
    model = cnnc_torch.Model(path)
    name = os.path.splitext(os.path.basename(path))[0]
    rng = np.random.default_rng(1000 + index)
    n = 3 if index % 2 == 0 else 5
    classes = model.output_shape[0]
    label_dtype = LABEL_DTYPES[index % len(LABEL_DTYPES)]
    model_file = os.path.join(workdir, "model.json")
    with open(path) as src, open(model_file, "w") as dst:
        dst.write(src.read())
    w0_file = os.path.join(workdir, "w0.safetensors")
    w1_file = os.path.join(workdir, "w1.safetensors")
    x_file = os.path.join(workdir, "x.npy")
    y_file = os.path.join(workdir, "y.npy")

    # 1. init: exactly the prescribed names, shapes and dtype.
    seed = 7 + index
    run([cnnc, "init", model_file, "-o", w0_file, "--seed", str(seed)], f"{name}: cnnc init")
    w0, metadata = cnnc_torch.read_safetensors(w0_file)
    expected = {p: shape for p, shape, _ in model.parameters()}
    if set(w0) != set(expected):
        raise Disagreement(f"{name}: init: parameter names differ: missing {sorted(set(expected) - set(w0))}, "
                           f"unexpected {sorted(set(w0) - set(expected))}")
    for p, shape in expected.items():
        if w0[p].shape != tuple(shape) or w0[p].dtype != np.float32:
            raise Disagreement(f"{name}: init: {p} is {w0[p].dtype}{list(w0[p].shape)}, expected float32{list(shape)}")
    report(True, f"init (seed {seed}): {len(w0)} tensors as specified")

    w1 = randomise(w0, model, rng)
    cnnc_torch.write_safetensors(w1_file, w1, metadata)

    x, y, sensitivity, draws = pick_inputs(model, w0, w1, n, classes, label_dtype, rng)
    report(True, f"inputs: N={n}, draw {draws} accepted: float32 PyTorch is within {sensitivity:.1e} of float64 "
                 f"on it (threshold {CONDITIONING:g})")
    np.save(x_file, x)
    np.save(y_file, y)
    xt = torch.from_numpy(x.astype(np.float64))

    # 2. infer, inference mode, with both weight files.
    for label, weights_file, weights, extra in (("W0", w0_file, w0, ["--batch", "2"]), ("W1", w1_file, w1, [])):
        try:
            check_infer(cnnc, name, model, model_file, label, weights_file, weights, extra, x_file, xt, n, workdir,
                        report)
        except Disagreement as error:
            report(False, str(error))

    if model.has_random_dropout():
        report(True, "grad: skipped (dropout with rate > 0: its mask is cnnc's own)")
        return
    try:
        check_grad(cnnc, name, model, model_file, w1_file, w1, x_file, xt, y_file, y, n, expected, workdir, report)
    except Disagreement as error:
        report(False, str(error))


def check_infer(cnnc, name, model, model_file, label, weights_file, weights, extra, x_file, xt, n, workdir, report):
    """Logits of `cnnc infer` vs. the PyTorch model in inference mode."""
    out_file = os.path.join(workdir, f"logits_{label}.npy")
    run([cnnc, "infer", model_file, "--weights", weights_file, "--input", x_file, "-o", out_file] + extra,
        f"{name}: cnnc infer {label}")
    got = np.load(out_file)
    if got.dtype != np.float32:
        raise Disagreement(f"{name}: infer {label}: logits are {got.dtype}, expected float32")
    with torch.no_grad():
        want = model.forward(xt, torch_params(weights), training=False).numpy()
    err = compare(name, f"infer {label}", "logits", got, want)
    report(True, f"infer {label} ({' '.join(extra) or 'default batch'}, N={n}): "
                 f"worst relative error {err:.2e} over {got.size} outputs")


def check_grad(cnnc, name, model, model_file, w1_file, w1, x_file, xt, y_file, y, n, expected, workdir, report):
    """Gradients and loss of `cnnc grad` vs. PyTorch autograd in training mode.
    Every disagreeing tensor is reported, not only the first."""
    g_file = os.path.join(workdir, "g.safetensors")
    stdout = run([cnnc, "grad", model_file, "--weights", w1_file, "--input", x_file, "--labels", y_file,
                  "-o", g_file], f"{name}: cnnc grad")
    loss_lines = [l for l in stdout.splitlines() if l.startswith("loss ")]
    if len(loss_lines) != 1:
        raise Disagreement(f"{name}: grad: expected one `loss <value>` line on stdout, got {stdout!r}")
    got_loss = float(loss_lines[0].split()[1])
    grads, _ = cnnc_torch.read_safetensors(g_file)
    want_loss, want_grads = model.loss_and_grads(xt, torch.from_numpy(y.astype(np.int64)), torch_params(w1))
    trainable = model.trainable_names()
    missing = set(trainable) - set(grads)
    unexpected = set(grads) - set(expected)
    if missing or unexpected:
        raise Disagreement(f"{name}: grad: gradient names differ: missing {sorted(missing)}, "
                           f"unexpected {sorted(unexpected)}")
    problems = []
    try:
        loss_err = compare(name, "grad", "loss", np.float64(got_loss), np.float64(want_loss))
    except Disagreement as error:
        problems.append(str(error))
    grad_worst, grad_worst_name = 0.0, ""
    for p in trainable:
        try:
            if grads[p].dtype != np.float32:
                raise Disagreement(f"{name}: grad: {p} is {grads[p].dtype}, expected float32")
            err = compare(name, "grad", p, grads[p], want_grads[p])
            if err >= grad_worst:
                grad_worst, grad_worst_name = err, p
        except Disagreement as error:
            problems.append(str(error))
    if problems:
        raise Disagreement("\n     ".join(problems))
    report(True, f"grad ({y.dtype} labels, N={n}): loss cnnc {got_loss:.9g} pytorch {want_loss:.9g} "
                 f"(relative error {loss_err:.2e}); worst gradient relative error {grad_worst:.2e} "
                 f"({grad_worst_name}) over {len(trainable)} tensors")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cnnc = os.path.abspath(argv[1])
    if not os.access(cnnc, os.X_OK):
        print(f"FAIL: {cnnc} is not an executable", file=sys.stderr)
        return 1
    torch.set_num_threads(2)
    here = os.path.dirname(os.path.abspath(__file__))
    all_models = sorted(glob.glob(os.path.join(here, "models", "*.json")))
    models = [os.path.abspath(p) for p in argv[2:]] or all_models
    if not models:
        print("FAIL: no models found under tests/pytorch/models", file=sys.stderr)
        return 1
    failures = []
    start = time.monotonic()
    for path in models:
        name = os.path.splitext(os.path.basename(path))[0]
        index = all_models.index(path) if path in all_models else len(all_models)
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"cnnc_torch_{name}_") as workdir:
            model_failures = []

            def report(ok, text):
                if ok:
                    print(f"ok   {name}: {text}")
                else:
                    model_failures.append(text)
                    print(f"FAIL {text}")
                sys.stdout.flush()

            try:
                check_model(cnnc, path, index, workdir, report)
            except Disagreement as error:
                report(False, str(error))
            except Exception as error:  # a bug on our side or a malformed file: still a failure
                report(False, f"{name}: {type(error).__name__}: {error}")
            print(f"{'ok  ' if not model_failures else 'FAIL'} {name}: done in {time.monotonic() - t0:.1f}s")
            failures.extend(model_failures)
        sys.stdout.flush()
    failed_models = {f.split(":")[0] for f in failures}
    print(f"{len(models) - len(failed_models)}/{len(models)} models agree with PyTorch "
          f"(tolerance {TOLERANCE:g}, float64 reference) in {time.monotonic() - start:.1f}s")
    if failures:
        print("\nDisagreements:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
