"""An independent PyTorch (float64) interpretation of cnnc model files.

Builds the computation a cnnc/1 model JSON describes (see the project's
model-format specification, version 1) directly from the JSON, without
running cnnc, so that cnnc's `infer` and `grad` can be checked against it.

Also holds minimal safetensors and helpers used by check_against_torch.py.
Only numpy and torch are needed (no `safetensors` package).
"""

import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as F

# --------------------------------------------------------------------------
# safetensors, by hand: 8-byte little-endian header length, JSON header,
# raw little-endian data. Offsets in the header are relative to the data.

_ST_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


def read_safetensors(path):
    """Returns (tensors: dict name -> np.ndarray, metadata: dict or None)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if 8 + header_len > len(blob):
        raise ValueError(f"{path}: header length {header_len} beyond the end of the file")
    header = json.loads(blob[8 : 8 + header_len].decode("utf-8"))
    data = memoryview(blob)[8 + header_len :]
    metadata = header.pop("__metadata__", None)
    tensors = {}
    for name, info in header.items():
        dtype = _ST_DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * dtype.itemsize or end > len(data):
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {begin},{end} for {info}")
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape).copy()
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes a dict name -> np.ndarray (stored in their own dtype, C order)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    chunks, offset = [], 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        dtype_name = next((k for k, d in _ST_DTYPES.items() if d == array.dtype.newbyteorder("<")), None)
        if dtype_name is None:
            raise ValueError(f"{name}: no safetensors dtype for {array.dtype}")
        raw = array.astype(_ST_DTYPES[dtype_name], copy=False).tobytes()
        header[name] = {
            "dtype": dtype_name,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # pad the header so the data is 8-byte aligned (allowed by the format)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for raw in chunks:
            f.write(raw)


# --------------------------------------------------------------------------
# The model.

_ACTIVATIONS = ("none", "relu", "sigmoid", "tanh")

# Keys each op accepts (besides "op", "name", "inputs"), with defaults.
_OP_KEYS = {
    "conv2d": {"filters": None, "kernel_size": None, "strides": 1, "padding": "valid",
               "use_bias": True, "activation": "none"},
    "max_pool2d": {"pool_size": None, "strides": None, "padding": "valid"},
    "avg_pool2d": {"pool_size": None, "strides": None, "padding": "valid"},
    "global_avg_pool2d": {},
    "flatten": {},
    "dense": {"units": None, "use_bias": True, "activation": "none"},
    "batch_norm": {"momentum": 0.9, "epsilon": 1e-5},
    "dropout": {"rate": None},
    "relu": {},
    "sigmoid": {},
    "tanh": {},
    "add": {"activation": "none"},
    "concat": {},
    "softmax": {},
}


def _pair(value, what):
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected an integer or a pair, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return (value[0], value[1])
    raise ValueError(f"{what}: expected an integer or a pair, got {value!r}")


def same_padding(size, window, stride):
    """TF/Keras "same" along one axis: out = ceil(in / stride); the odd pixel
    of padding goes after (bottom/right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def resolve_padding(padding, in_hw, window, strides, what):
    """Returns (top, bottom, left, right)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        top, bottom = same_padding(in_hw[0], window[0], strides[0])
        left, right = same_padding(in_hw[1], window[1], strides[1])
        return (top, bottom, left, right)
    ph, pw = _pair(padding, what)
    if ph < 0 or pw < 0:
        raise ValueError(f"{what}: negative padding")
    return (ph, ph, pw, pw)


def _window_out(size, before, after, window, stride, what):
    padded = size + before + after
    if window > padded:
        raise ValueError(f"{what}: window {window} larger than the padded input {padded}")
    return (padded - window) // stride + 1


class Layer:
    def __init__(self, index, spec):
        self.index = index
        self.spec = spec
        self.op = spec["op"]
        if self.op not in _OP_KEYS:
            raise ValueError(f"layers[{index}]: unknown op {self.op!r}")
        allowed = set(_OP_KEYS[self.op]) | {"op", "name", "inputs"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"layers[{index}]: unknown keys {sorted(unknown)}")
        self.name = spec.get("name", f"{self.op}_{index}")
        self.attrs = dict(_OP_KEYS[self.op])
        self.attrs.update({k: v for k, v in spec.items() if k not in ("op", "name", "inputs")})
        missing = [k for k, v in self.attrs.items() if v is None and k != "strides"]
        if missing:
            raise ValueError(f"layers[{index}] ({self.name}): missing keys {missing}")
        self.inputs = None  # resolved by Model
        self.in_shapes = None
        self.out_shape = None
        # Resolved geometry for windowed ops.
        self.window = self.strides = self.pads = None


class Model:
    """A cnnc/1 model, interpreted in PyTorch.

    `parameters()` lists every tensor the weights file must hold:
    (name, shape, trainable). `forward(x, params, training)` computes the
    logits (or, with a trailing softmax and `before_softmax=False`, the
    probabilities) from float64 torch tensors.
    """

    def __init__(self, spec):
        if isinstance(spec, str):
            with open(spec) as f:
                spec = json.load(f)
        allowed = {"format", "name", "input", "classes", "layers", "loss", "optimizer"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown top-level keys {sorted(unknown)}")
        if spec.get("format") != "cnnc/1":
            raise ValueError(f"format must be cnnc/1, got {spec.get('format')!r}")
        self.spec = spec
        self.name = spec.get("name", "")
        inp = spec["input"]
        self.input_shape = (inp["channels"], inp["height"], inp["width"])
        self.layers = [Layer(i, l) for i, l in enumerate(spec["layers"])]
        self.loss = spec.get("loss")
        self.optimizer = spec.get("optimizer")
        self._resolve()
        if "classes" in spec and self.output_shape != (spec["classes"],):
            raise ValueError(f"classes {spec['classes']} != output shape {self.output_shape}")

    # -- structure and shapes --------------------------------------------
    def _resolve(self):
        shapes = {"input": self.input_shape}
        previous = "input"
        for layer in self.layers:
            if layer.name in shapes:
                raise ValueError(f"duplicate layer name {layer.name!r}")
            if layer.op == "softmax" and layer is not self.layers[-1]:
                raise ValueError("softmax must be the last layer")
            names = layer.spec.get("inputs", [previous])
            for n in names:
                if n not in shapes:
                    raise ValueError(f"{layer.name}: unknown input {n!r}")
            layer.inputs = list(names)
            layer.in_shapes = [shapes[n] for n in names]
            layer.out_shape = self._infer_shape(layer)
            shapes[layer.name] = layer.out_shape
            previous = layer.name
        self.output_shape = self.layers[-1].out_shape

    def _infer_shape(self, layer):
        op, a, what = layer.op, layer.attrs, f"{layer.name}"
        if op in ("add", "concat"):
            if len(layer.inputs) < 2:
                raise ValueError(f"{what}: needs two or more inputs")
        elif len(layer.inputs) != 1:
            raise ValueError(f"{what}: takes one input")
        x = layer.in_shapes[0]
        if op in ("conv2d", "max_pool2d", "avg_pool2d"):
            if len(x) != 3:
                raise ValueError(f"{what}: needs an image input, got {x}")
            if op == "conv2d":
                layer.window = _pair(a["kernel_size"], what + ".kernel_size")
                layer.strides = _pair(a["strides"], what + ".strides")
            else:
                layer.window = _pair(a["pool_size"], what + ".pool_size")
                layer.strides = _pair(a["strides"] if a["strides"] is not None else a["pool_size"], what + ".strides")
            layer.pads = resolve_padding(a["padding"], x[1:], layer.window, layer.strides, what + ".padding")
            if op != "conv2d" and a["padding"] != "same":
                t, b, l, r = layer.pads
                if t >= layer.window[0] or l >= layer.window[1]:
                    raise ValueError(f"{what}: pool padding must be smaller than pool_size")
            t, b, l, r = layer.pads
            oh = _window_out(x[1], t, b, layer.window[0], layer.strides[0], what)
            ow = _window_out(x[2], l, r, layer.window[1], layer.strides[1], what)
            channels = a["filters"] if op == "conv2d" else x[0]
            return (channels, oh, ow)
        if op == "global_avg_pool2d":
            if len(x) != 3:
                raise ValueError(f"{what}: needs an image input")
            return (x[0],)
        if op == "flatten":
            return (int(np.prod(x)),)
        if op == "dense":
            if len(x) != 1:
                raise ValueError(f"{what}: dense needs a flat input, got {x}")
            return (a["units"],)
        if op in ("batch_norm", "dropout", "relu", "sigmoid", "tanh", "softmax"):
            return x
        if op == "add":
            if any(s != x for s in layer.in_shapes):
                raise ValueError(f"{what}: add of different shapes {layer.in_shapes}")
            return x
        if op == "concat":
            rest = {tuple(s[1:]) for s in layer.in_shapes}
            if len(rest) != 1:
                raise ValueError(f"{what}: concat of mismatched shapes {layer.in_shapes}")
            return (sum(s[0] for s in layer.in_shapes),) + x[1:]
        raise AssertionError(op)

    def parameters(self):
        """[(name, shape, trainable)] in layer order."""
        out = []
        for layer in self.layers:
            a = layer.attrs
            if layer.op == "conv2d":
                c = layer.in_shapes[0][0]
                out.append((f"{layer.name}.weight", (a["filters"], c) + layer.window, True))
                if a["use_bias"]:
                    out.append((f"{layer.name}.bias", (a["filters"],), True))
            elif layer.op == "dense":
                out.append((f"{layer.name}.weight", (a["units"], layer.in_shapes[0][0]), True))
                if a["use_bias"]:
                    out.append((f"{layer.name}.bias", (a["units"],), True))
            elif layer.op == "batch_norm":
                c = (layer.in_shapes[0][0],)
                out.append((f"{layer.name}.weight", c, True))
                out.append((f"{layer.name}.bias", c, True))
                out.append((f"{layer.name}.running_mean", c, False))
                out.append((f"{layer.name}.running_var", c, False))
        return out

    def trainable_names(self):
        return [n for n, _, t in self.parameters() if t]

    def has_random_dropout(self):
        return any(l.op == "dropout" and l.attrs["rate"] > 0 for l in self.layers)

    def ends_in_softmax(self):
        return self.layers[-1].op == "softmax"

    # -- computation ---------------------------------------------------------
    @staticmethod
    def _activate(x, name):
        if name not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}")
        if name == "relu":
            return torch.relu(x)
        if name == "sigmoid":
            return torch.sigmoid(x)
        if name == "tanh":
            return torch.tanh(x)
        return x

    def forward(self, x, params, training, before_softmax=False):
        """x: [N,C,H,W] float64 tensor; params: dict name -> float64 tensor.

        training=True: batch_norm normalises with the batch statistics (biased
        variance); dropout must then have rate 0 (its mask is cnnc's own).
        training=False: batch_norm uses the running statistics, dropout is the
        identity. before_softmax=True stops before a trailing softmax (the
        loss reads the logits there).
        """
        values = {"input": x}
        result = x
        for layer in self.layers:
            ins = [values[n] for n in layer.inputs]
            a = layer.attrs
            op = layer.op
            if op == "conv2d":
                t, b, l, r = layer.pads
                y = F.pad(ins[0], (l, r, t, b))
                y = F.conv2d(y, params[f"{layer.name}.weight"],
                             params.get(f"{layer.name}.bias") if a["use_bias"] else None,
                             stride=layer.strides)
                y = self._activate(y, a["activation"])
            elif op == "max_pool2d":
                t, b, l, r = layer.pads
                y = F.pad(ins[0], (l, r, t, b), value=-math.inf)  # padding never wins
                y = F.max_pool2d(y, layer.window, layer.strides)
            elif op == "avg_pool2d":
                # Average over the valid (unpadded) elements of each window:
                # the window sum over a zero-padded input divided by the
                # number of real elements it covers.
                t, b, l, r = layer.pads
                k = layer.window[0] * layer.window[1]
                sums = F.avg_pool2d(F.pad(ins[0], (l, r, t, b)), layer.window, layer.strides) * k
                ones = torch.ones((1, 1) + tuple(ins[0].shape[2:]), dtype=ins[0].dtype)
                counts = F.avg_pool2d(F.pad(ones, (l, r, t, b)), layer.window, layer.strides) * k
                counts = torch.round(counts)
                assert bool((counts > 0).all()), f"{layer.name}: a window with no valid element"
                y = sums / counts
            elif op == "global_avg_pool2d":
                y = ins[0].mean(dim=(2, 3))
            elif op == "flatten":
                y = ins[0].reshape(ins[0].shape[0], -1)
            elif op == "dense":
                y = F.linear(ins[0], params[f"{layer.name}.weight"],
                             params.get(f"{layer.name}.bias") if a["use_bias"] else None)
                y = self._activate(y, a["activation"])
            elif op == "batch_norm":
                v = ins[0]
                dims = (0, 2, 3) if v.dim() == 4 else (0,)
                view = (1, -1, 1, 1) if v.dim() == 4 else (1, -1)
                if training:
                    mean = v.mean(dim=dims)
                    var = v.var(dim=dims, unbiased=False)
                else:
                    mean = params[f"{layer.name}.running_mean"]
                    var = params[f"{layer.name}.running_var"]
                gamma = params[f"{layer.name}.weight"]
                beta = params[f"{layer.name}.bias"]
                y = (v - mean.reshape(view)) / torch.sqrt(var.reshape(view) + a["epsilon"])
                y = y * gamma.reshape(view) + beta.reshape(view)
            elif op == "dropout":
                if training and a["rate"] > 0:
                    raise ValueError(f"{layer.name}: dropout with rate > 0 cannot be reproduced in training mode")
                y = ins[0]
            elif op in ("relu", "sigmoid", "tanh"):
                y = self._activate(ins[0], op)
            elif op == "add":
                y = ins[0]
                for other in ins[1:]:
                    y = y + other
                y = self._activate(y, a["activation"])
            elif op == "concat":
                y = torch.cat(ins, dim=1)
            elif op == "softmax":
                if before_softmax:
                    return ins[0]
                y = torch.softmax(ins[0], dim=1)
            else:
                raise AssertionError(op)
            values[layer.name] = y
            result = y
        return result

    def loss_and_grads(self, x, labels, params):
        """Mean softmax cross-entropy over the batch (training mode) and its
        gradient w.r.t. every trainable parameter: (loss float, dict name -> np)."""
        names = self.trainable_names()
        leaves = {k: v.detach().clone().requires_grad_(k in names) for k, v in params.items()}
        logits = self.forward(x, leaves, training=True, before_softmax=True)
        loss = F.cross_entropy(logits, labels, reduction="mean")
        grads = torch.autograd.grad(loss, [leaves[n] for n in names], allow_unused=True)
        out = {}
        for n, g in zip(names, grads):
            out[n] = np.zeros(tuple(leaves[n].shape)) if g is None else g.detach().numpy()
        return float(loss.detach()), out


def load_params(path):
    """Reads a weights file into float64 torch tensors (and the raw arrays)."""
    tensors, metadata = read_safetensors(path)
    return {k: torch.from_numpy(v.astype(np.float64)) for k, v in tensors.items()}, tensors, metadata
