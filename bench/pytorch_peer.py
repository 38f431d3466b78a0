#!/usr/bin/python3
"""PyTorch's speed on a cnnc model: the peer cnnc's `bench` is compared with.

Usage: pytorch_peer.py MODEL.json --mode train|infer --batch B --threads T
                       [--runs R] [--warmup W] [--seconds S] [--variants a,b] [--no-check] [--json]

Builds the model a cnnc/1 JSON describes in float32 PyTorch, with random
(Glorot) weights, random images in [0, 1) and random labels, sets
torch.set_num_threads(T), and measures images per second.

The model is read, validated and its geometry resolved (names, inputs,
shapes, "same" padding, pool padding) by tests/pytorch/cnnc_torch.py, the
project's independent PyTorch interpretation of the model format. From that
the script builds an idiomatic nn.Module (nn.Conv2d, nn.BatchNorm2d,
nn.Linear, ...), the network a PyTorch user would write, so that PyTorch's
fast paths (oneDNN convolutions, fused batch_norm, running-statistics update)
are used. Before timing, that module is checked in float64 against
cnnc_torch's own forward, in inference and in training mode (--no-check
skips this), so it is the same model.

Variants (each timed; failures are reported and skipped; the best is taken):
  train: one step = forward + softmax cross-entropy (mean) + backward + the
         model's optimizer step (torch.optim: Adam, AdamW when weight_decay is
         set, as cnnc's decay is decoupled; SGD with the JSON's momentum,
         nesterov, weight_decay); batch_norm in training mode.
    eager          NCHW
    channels_last  model and input in torch.channels_last
    cnnc_torch     cnnc_torch.Model.forward itself (functional; batch_norm
                   from its formula, no running-statistics update)
  infer: torch.inference_mode (no_grad for TorchScript), eval mode.
    eager, channels_last, cnnc_torch as above;
    jit            torch.jit.optimize_for_inference(torch.jit.trace(model))
    jit_channels_last  the same, traced in channels_last

Each variant: W warm-up steps, then R timed runs of K steps each, K chosen so
that a run lasts about S seconds (0.7); the median over the runs is reported
as images/s and ms/step.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the environment
before torch is loaded (they slow PyTorch down); a note says so.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

_SLOW_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_removed_env = [name for name in _SLOW_ENV if name in os.environ]
for _name in _removed_env:
    del os.environ[_name]  # before torch (and its BLAS) is loaded: they read it at load time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "tests", "pytorch"))

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    import cnnc_torch  # tests/pytorch/cnnc_torch.py (needs numpy)
except ImportError as error:
    print(f"pytorch_peer: cannot import torch/numpy ({error}); install Debian's python3-torch and "
          f"python3-numpy and run with /usr/bin/python3", file=sys.stderr)
    sys.exit(1)

TRAIN_VARIANTS = ("eager", "channels_last", "cnnc_torch")
INFER_VARIANTS = ("eager", "channels_last", "jit", "jit_channels_last", "cnnc_torch")


# --------------------------------------------------------------------------
# The model as idiomatic PyTorch modules, from cnnc_torch's resolved layers.

# The same activation functions the reference model builder applies.
_activation = cnnc_torch.Model._activate


def _symmetric(pads):
    top, bottom, left, right = pads
    return top == bottom and left == right


class Conv(nn.Module):
    def __init__(self, layer):
        super().__init__()
        a = layer.attrs
        # Symmetric padding goes to the convolution itself; asymmetric
        # ("same" with an even remainder) is an explicit zero pad first.
        self.pad = None if _symmetric(layer.pads) else (layer.pads[2], layer.pads[3], layer.pads[0], layer.pads[1])
        padding = (layer.pads[0], layer.pads[2]) if self.pad is None else (0, 0)
        self.conv = nn.Conv2d(layer.in_shapes[0][0], a["filters"], layer.window, layer.strides, padding,
                              bias=a["use_bias"])
        self.activation = a["activation"]

    def forward(self, x):
        if self.pad is not None:
            x = F.pad(x, self.pad)
        return _activation(self.conv(x), self.activation)


class MaxPool(nn.Module):
    def __init__(self, layer):
        super().__init__()
        t, b, l, r = layer.pads
        native = _symmetric(layer.pads) and 2 * t <= layer.window[0] and 2 * l <= layer.window[1]
        self.pad = None if native else (l, r, t, b)
        self.pool = nn.MaxPool2d(layer.window, layer.strides, (t, l) if native else 0)

    def forward(self, x):
        if self.pad is not None:
            x = F.pad(x, self.pad, value=-math.inf)  # padding never wins
        return self.pool(x)


class AvgPool(nn.Module):
    """Average over the valid (unpadded) elements of each window."""

    def __init__(self, layer):
        super().__init__()
        t, b, l, r = layer.pads
        self.native = _symmetric(layer.pads) and 2 * t <= layer.window[0] and 2 * l <= layer.window[1]
        self.window, self.strides, self.pads = layer.window, layer.strides, layer.pads
        if self.native:
            self.pool = nn.AvgPool2d(layer.window, layer.strides, (t, l), count_include_pad=False)
        else:
            # Window sums over the zero-padded input, divided by the number
            # of real elements each window covers (a constant buffer).
            ones = torch.ones((1, 1) + tuple(layer.in_shapes[0][1:]))
            k = layer.window[0] * layer.window[1]
            counts = torch.round(F.avg_pool2d(F.pad(ones, (l, r, t, b)), layer.window, layer.strides) * k)
            self.register_buffer("scale", k / counts)

    def forward(self, x):
        if self.native:
            return self.pool(x)
        t, b, l, r = self.pads
        return F.avg_pool2d(F.pad(x, (l, r, t, b)), self.window, self.strides) * self.scale


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


class Flatten(nn.Module):
    def forward(self, x):
        return x.flatten(1)  # C, H, W order (copies a channels_last tensor)


class Dense(nn.Module):
    def __init__(self, layer):
        super().__init__()
        a = layer.attrs
        self.linear = nn.Linear(layer.in_shapes[0][0], a["units"], bias=a["use_bias"])
        self.activation = a["activation"]

    def forward(self, x):
        return _activation(self.linear(x), self.activation)


def _batch_norm(layer):
    a = layer.attrs
    kind = nn.BatchNorm2d if len(layer.in_shapes[0]) == 3 else nn.BatchNorm1d
    # cnnc: r = momentum * r + (1 - momentum) * batch; PyTorch's momentum is
    # the weight of the batch. Both use the unbiased batch variance for r.
    return kind(layer.in_shapes[0][0], eps=a["epsilon"], momentum=1.0 - a["momentum"])


class Activation(nn.Module):
    def __init__(self, name):
        super().__init__()
        self.name = name

    def forward(self, x):
        return _activation(x, self.name)


class Add(nn.Module):
    def __init__(self, activation):
        super().__init__()
        self.activation = activation

    def forward(self, *xs):
        y = xs[0]
        for other in xs[1:]:
            y = y + other
        return _activation(y, self.activation)


class Concat(nn.Module):
    def forward(self, *xs):
        return torch.cat(xs, dim=1)


class Softmax(nn.Module):
    def forward(self, x):
        return torch.softmax(x, dim=1)


def _module(layer):
    op = layer.op
    if op == "conv2d":
        return Conv(layer)
    if op == "max_pool2d":
        return MaxPool(layer)
    if op == "avg_pool2d":
        return AvgPool(layer)
    if op == "global_avg_pool2d":
        return GlobalAvgPool()
    if op == "flatten":
        return Flatten()
    if op == "dense":
        return Dense(layer)
    if op == "batch_norm":
        return _batch_norm(layer)
    if op == "dropout":
        return nn.Dropout(layer.attrs["rate"])
    if op in ("relu", "sigmoid", "tanh"):
        return Activation(op)
    if op == "add":
        return Add(layer.attrs["activation"])
    if op == "concat":
        return Concat()
    if op == "softmax":
        return Softmax()
    raise ValueError(f"{layer.name}: op {op!r} not supported by pytorch_peer")


class PeerNet(nn.Module):
    """The model of a cnnc_torch.Model as nn.Modules. before_softmax: the
    output is the logits even if the model ends in softmax (for the loss)."""

    def __init__(self, model, before_softmax):
        super().__init__()
        layers = model.layers
        if before_softmax and model.ends_in_softmax():
            layers = layers[:-1]
        self.names = [layer.name for layer in layers]
        self.inputs = [list(layer.inputs) for layer in layers]
        self.ops = [layer.op for layer in layers]
        self.body = nn.ModuleList(_module(layer) for layer in layers)
        for module, op in zip(self.body, self.ops):  # Keras's initialisation, as cnnc's
            inner = module.conv if op == "conv2d" else module.linear if op == "dense" else None
            if inner is not None:
                nn.init.xavier_uniform_(inner.weight)
                if inner.bias is not None:
                    nn.init.zeros_(inner.bias)

    def forward(self, x):
        values = {"input": x}
        y = x
        for name, inputs, module in zip(self.names, self.inputs, self.body):
            y = module(*[values[n] for n in inputs])
            values[name] = y
        return y

    def cnnc_tensors(self):
        """name -> tensor, with the names of cnnc's weights files."""
        out = {}
        for name, op, module in zip(self.names, self.ops, self.body):
            inner = module.conv if op == "conv2d" else module.linear if op == "dense" else module
            if op in ("conv2d", "dense", "batch_norm"):
                out[f"{name}.weight"] = inner.weight
                if inner.bias is not None:
                    out[f"{name}.bias"] = inner.bias
            if op == "batch_norm":
                out[f"{name}.running_mean"] = inner.running_mean
                out[f"{name}.running_var"] = inner.running_var
        return out


def check_against_cnnc_torch(model):
    """The PeerNet computes what cnnc_torch computes (float64): inference
    mode with random running statistics, and training mode (batch
    statistics) unless dropout is random. Raises on disagreement."""
    torch.manual_seed(7)
    x = torch.rand((3,) + model.input_shape, dtype=torch.float64)
    for before_softmax, training in ((False, False), (True, True)):
        if training and model.has_random_dropout():
            continue
        net = PeerNet(model, before_softmax).double()
        with torch.no_grad():
            for name, tensor in net.cnnc_tensors().items():
                if name.endswith(".running_var"):
                    tensor.uniform_(0.5, 2.0)
                elif not name.endswith(".weight") or tensor.dim() == 1:
                    tensor.uniform_(-0.5, 0.5)  # biases, batch_norm gamma/beta, running means
            params = {k: v.detach().clone() for k, v in net.cnnc_tensors().items()}
            net.train(training)
            ours = net(x)
            theirs = model.forward(x, params, training=training, before_softmax=before_softmax)
        scale = max(float(theirs.abs().max()), 1e-30)
        error = float((ours - theirs).abs().max()) / scale
        if not error < 1e-9:
            mode = "training" if training else "inference"
            raise RuntimeError(f"the PyTorch module disagrees with cnnc_torch in {mode} mode "
                               f"(max relative error {error:.3g})")


# --------------------------------------------------------------------------
# Steps.

def make_optimizer(model, params):
    spec = model.optimizer
    if not spec:
        raise ValueError("the model has no optimizer: it cannot be trained")
    kind = spec.get("type")
    wd = spec.get("weight_decay", 0.0)
    if kind == "adam":
        options = dict(lr=spec.get("learning_rate", 0.001), betas=(spec.get("beta1", 0.9), spec.get("beta2", 0.999)),
                       eps=spec.get("epsilon", 1e-7))
        # cnnc's weight decay is decoupled (w *= 1 - lr * wd): AdamW's.
        return torch.optim.AdamW(params, weight_decay=wd, **options) if wd else torch.optim.Adam(params, **options)
    if kind == "sgd":
        momentum = spec.get("momentum", 0.0)
        # (torch's SGD weight decay is coupled, cnnc's decoupled: the same cost.)
        return torch.optim.SGD(params, lr=spec["learning_rate"], momentum=momentum,
                               nesterov=bool(spec.get("nesterov", False)) and momentum > 0, weight_decay=wd)
    raise ValueError(f"unknown optimizer type {kind!r}")


def make_step(model, variant, mode, batch):
    """Returns a function running one step of `variant`."""
    torch.manual_seed(1)
    x = torch.rand((batch,) + model.input_shape)
    classes = model.output_shape[0]
    labels = torch.randint(0, classes, (batch,))
    train = mode == "train"
    if train and model.loss not in (None, "softmax_cross_entropy"):
        raise ValueError(f"unknown loss {model.loss!r}")

    if variant == "cnnc_torch":
        net = PeerNet(model, before_softmax=train)  # only for its initial weights
        tensors = {k: v.detach().clone() for k, v in net.cnnc_tensors().items()}
        trainable = set(model.trainable_names())
        if train:
            if model.has_random_dropout():
                raise ValueError("cnnc_torch cannot run dropout with rate > 0 in training mode")
            for name in trainable:
                tensors[name].requires_grad_(True)
            optimizer = make_optimizer(model, [tensors[n] for n in model.trainable_names()])

            def step():
                optimizer.zero_grad(set_to_none=True)
                logits = model.forward(x, tensors, training=True, before_softmax=True)
                F.cross_entropy(logits, labels).backward()
                optimizer.step()
            return step

        def step():
            with torch.inference_mode():
                model.forward(x, tensors, training=False)
        return step

    net = PeerNet(model, before_softmax=train)
    if variant in ("channels_last", "jit_channels_last"):
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if train:
        if variant not in ("eager", "channels_last"):
            raise ValueError(f"no training variant {variant!r}")
        net.train()
        optimizer = make_optimizer(model, list(net.parameters()))

        def step():
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), labels).backward()
            optimizer.step()
        return step

    net.eval()
    if variant in ("eager", "channels_last"):
        def step():
            with torch.inference_mode():
                net(x)
        return step
    if variant in ("jit", "jit_channels_last"):
        with torch.no_grad():
            optimized = torch.jit.optimize_for_inference(torch.jit.trace(net, x))
            optimized(x)  # fail here, not while timing

        def step():
            with torch.no_grad():
                optimized(x)
        return step
    raise ValueError(f"no inference variant {variant!r}")


def time_variant(step, batch, warmup, runs, seconds):
    for _ in range(warmup):
        step()
    # Steps per run: double until 0.1 s, then scale to `seconds`.
    steps, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        elapsed = time.perf_counter() - start
        if elapsed >= 0.1:
            break
        steps *= 2
    steps = max(1, round(steps * seconds / elapsed))
    per_step = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        per_step.append((time.perf_counter() - start) / steps)
    median = statistics.median(per_step)
    return {
        "images_per_s": batch / median,
        "ms_per_step": median * 1e3,
        "steps_per_run": steps,
        "runs_images_per_s": [batch / s for s in per_step],
    }


def blas_library():
    """(path, kind) of the BLAS PyTorch loaded: its dense layers (and the
    convolutions oneDNN does not take) run on it. Debian's python3-torch
    links libblas.so.3, which is the slow reference BLAS unless an optimised
    one (libopenblas0-openmp, -pthread) is installed."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "blas" in line.rsplit("/", 1)[-1].lower()})
    except OSError:
        return None, "unknown"
    for path in paths:
        if "openblas" in path:
            return path, "openblas"
    for path in paths:
        if "mkl" in path:
            return path, "mkl"
    for path in paths:
        if "/blas/" in path:
            return path, "reference"
    return (paths[0], "other") if paths else (None, "unknown")


# --------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description="PyTorch's speed on a cnnc model (images/s, median of runs).")
    parser.add_argument("model", help="model description (JSON, cnnc/1)")
    parser.add_argument("--mode", choices=("train", "infer"), default="train")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch.set_num_threads (default: all usable cores)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs; the median is reported (default 5)")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up steps per variant (default 10)")
    parser.add_argument("--seconds", type=float, default=0.7, help="length of one timed run (default 0.7)")
    parser.add_argument("--variants", help="comma-separated subset of the variants to time")
    parser.add_argument("--no-check", action="store_true", help="skip the check against cnnc_torch")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    for name in ("batch", "threads", "runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0 or not args.seconds > 0:
        parser.error("--warmup must be >= 0 and --seconds > 0")
    known = TRAIN_VARIANTS if args.mode == "train" else INFER_VARIANTS
    variants = list(known)
    if args.variants:
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = [v for v in variants if v not in known]
        if unknown:
            parser.error(f"unknown {args.mode} variants {unknown}; known: {', '.join(known)}")

    for name in _removed_env:
        print(f"pytorch_peer: note: ignoring {name} (it slows PyTorch down)", file=sys.stderr)
    blas_path, blas_kind = blas_library()
    if blas_kind == "reference":
        print(f"pytorch_peer: note: PyTorch runs on the reference BLAS ({blas_path}): dense layers and the "
              f"convolutions oneDNN does not take (eager, batch 1) are slow; the oneDNN variants are not "
              f"affected. libopenblas0-openmp provides a fast libblas.so.3", file=sys.stderr)
    try:
        model = cnnc_torch.Model(args.model)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"pytorch_peer: {args.model}: {error}", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    if not args.no_check:
        try:
            check_against_cnnc_torch(model)
        except Exception as error:  # noqa: BLE001 (any failure here means the peer is not trustworthy)
            print(f"pytorch_peer: {args.model}: {error}", file=sys.stderr)
            return 1

    results = {}
    for variant in variants:
        try:
            step = make_step(model, variant, args.mode, args.batch)
            results[variant] = time_variant(step, args.batch, args.warmup, args.runs, args.seconds)
        except Exception as error:  # noqa: BLE001 (a failed variant is reported, the others still run)
            message = f"{type(error).__name__}: {error}".strip().splitlines()[0]
            results[variant] = {"images_per_s": None, "ms_per_step": None, "error": message}
    timed = [v for v in variants if results[v]["images_per_s"]]
    best = max(timed, key=lambda v: results[v]["images_per_s"]) if timed else None

    if args.json:
        print(json.dumps({
            "model": model.name, "file": args.model, "mode": args.mode, "batch": args.batch,
            "threads": args.threads, "torch": torch.__version__, "blas": blas_kind, "blas_path": blas_path,
            "runs": args.runs, "warmup": args.warmup, "variants": results, "best": best,
        }))
    else:
        print(f"{model.name} {args.mode} batch {args.batch} threads {args.threads} (PyTorch {torch.__version__}, "
              f"{blas_kind} BLAS; median of {args.runs} runs after {args.warmup} warm-up steps)")
        print(f"{'variant':<20}{'images/s':>12}{'ms/step':>12}{'steps/run':>11}")
        for v in variants:
            r = results[v]
            if r["images_per_s"]:
                mark = "  <- best" if v == best else ""
                print(f"{v:<20}{r['images_per_s']:>12.1f}{r['ms_per_step']:>12.3f}{r['steps_per_run']:>11}{mark}")
            else:
                print(f"{v:<20}  failed: {r['error']}")
    return 0 if best else 1


if __name__ == "__main__":
    sys.exit(main())
