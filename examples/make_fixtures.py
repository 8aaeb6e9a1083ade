#!/usr/bin/python3
"""Generate the committed nadapt test fixtures under examples/fixtures/.

Run with Debian's system python (torch 1.13, onnx 1.12, numpy):

    /usr/bin/python3 examples/make_fixtures.py            # everything
    /usr/bin/python3 examples/make_fixtures.py --only-edge  # only the small hand-built fixtures

Building and testing the C project never needs this script: its outputs are
committed.  The script is deterministic (fixed seeds, one thread) and
idempotent (it overwrites its outputs).

Data: Fashion-MNIST IDX gz files from /usr/share/datasets/fashion-mnist/
(override with --data DIR).  Preprocessing, reproduced by the C side:
    x = (pixel / 255 - 0.2860) / 0.3530   shape N x 1 x 28 x 28 float32
"""

import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import onnx
from onnx import helper, numpy_helper, TensorProto

MEAN = 0.2860
STD = 0.3530

# Training recipe (identical for every model; lr may differ per model and is
# recorded per row in the manifest).
EPOCHS = 3
BATCH = 128
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
SCHEDULE = "constant"
SEED = 20240601

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dtype_code = (magic >> 8) & 0xFF
    assert dtype_code == 0x08, "expected unsigned byte IDX data"
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims).copy()


def load_fmnist(d):
    xtr = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz"))
    ytr = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    xte = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))
    yte = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    assert xtr.shape == (60000, 28, 28) and ytr.shape == (60000,)
    assert xte.shape == (10000, 28, 28) and yte.shape == (10000,)
    return xtr, ytr, xte, yte


def preprocess(u8):
    x = u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return x.reshape(-1, 1, 28, 28).astype(np.float32)


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------

class CnnBn(nn.Module):
    """Conv-BN-ReLU x2 with MaxPool, x.view(N, -1) flatten, Linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = x.view(x.size(0), -1)
        return self.fc(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                nn.BatchNorm2d(cout))
        else:
            self.short = None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.short is None else self.short(x)
        return F.relu(y + s)


class ResNet(nn.Module):
    """Stride-2 stem (LeakyReLU), identity block, strided block with 1x1
    projection shortcut, GAP, flatten, Linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, stride=2, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(16)
        self.block1 = BasicBlock(16, 16, 1)
        self.block2 = BasicBlock(16, 32, 2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.leaky_relu(self.stem_bn(self.stem(x)), 0.1)
        x = self.block2(self.block1(x))
        x = torch.flatten(self.gap(x), 1)
        return self.fc(x)


class SqueezeExcite(nn.Module):
    def __init__(self, c, r, gate):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, c // r, 1, bias=True)
        self.fc2 = nn.Conv2d(c // r, c, 1, bias=True)
        self.gate = gate

    def forward(self, x):
        s = self.pool(x)
        s = self.gate(self.fc2(F.relu(self.fc1(s))))
        return x * s


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand, se=False):
        super().__init__()
        hid = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = [
            nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(inplace=True),
            nn.Conv2d(hid, hid, 3, stride=stride, padding=1, groups=hid, bias=False),
            nn.BatchNorm2d(hid), nn.ReLU6(inplace=True),
        ]
        if se:
            layers.append(SqueezeExcite(hid, 4, nn.Hardsigmoid()))
        layers += [nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        y = self.body(x)
        return x + y if self.use_res else y


class MobileNetV2(nn.Module):
    """MobileNetV2-style: ReLU6 (Clip), depthwise 3x3, 1x1 expand/project,
    residual adds, a Hardsigmoid squeeze-excite, Hardswish head, GAP, Linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(16), nn.ReLU6(inplace=True))
        self.blocks = nn.Sequential(
            InvertedResidual(16, 16, 1, 4),
            InvertedResidual(16, 32, 2, 4, se=True),
            InvertedResidual(32, 32, 1, 4),
        )
        self.head = nn.Sequential(
            nn.Conv2d(32, 128, 1, bias=False), nn.BatchNorm2d(128), nn.Hardswish())
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        x = torch.flatten(self.gap(x), 1)
        return self.fc(x)


class Inception(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.b1 = nn.Conv2d(cin, 8, 1)
        self.b2a = nn.Conv2d(cin, 8, 1)
        self.b2b = nn.Conv2d(8, 16, 3, padding=1)
        self.b3 = nn.Conv2d(cin, 8, 1)

    def forward(self, x):
        y1 = F.relu(self.b1(x))
        y2 = F.relu(self.b2b(F.relu(self.b2a(x))))
        y3 = F.relu(self.b3(F.max_pool2d(x, 3, stride=1, padding=1)))
        return torch.cat([y1, y2, y3], dim=1)


class ConcatNet(nn.Module):
    """Bias convs (no BN), Inception-like Concat block, LeakyReLU, AveragePool,
    stride-2 conv, Sigmoid squeeze-excite (Mul), GAP, Linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1, bias=True)
        self.inc = Inception(16)
        self.conv = nn.Conv2d(32, 48, 3, stride=2, padding=1, bias=True)
        self.se = SqueezeExcite(48, 4, nn.Sigmoid())
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(48, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 2)          # 16x14x14
        x = F.leaky_relu(self.inc(x), 0.01)                 # 32x14x14
        x = F.avg_pool2d(x, 2)                              # 32x7x7
        x = F.relu(self.conv(x))                            # 48x4x4
        x = self.se(x)
        x = torch.flatten(self.gap(x), 1)
        return self.fc(x)


class MlpPool(nn.Module):
    """conv 5x5 -> ReLU -> MaxPool 2 -> MaxPool 3/s2/p1 -> Flatten -> Dropout
    -> Linear -> ReLU -> Dropout -> Linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 24, 5, padding=2, bias=True), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.MaxPool2d(3, stride=2, padding=1))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(24 * 7 * 7, 128), nn.ReLU(),
            nn.Dropout(0.25),
            nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


# name, constructor, lr, export options
MODELS = [
    ("cnn_bn", CnnBn, 0.05, dict(preserve_bn=True)),
    ("resnet", ResNet, 0.05, dict(preserve_bn=True, keep_init_op11=True)),
    ("mobilenetv2", MobileNetV2, 0.05, dict()),
    ("concat", ConcatNet, 0.02, dict()),
    ("mlp_pool", MlpPool, 0.02, dict()),
]


# --------------------------------------------------------------------------
# accounting
# --------------------------------------------------------------------------

def count_macs(model):
    """MACs per image of Conv2d and Linear layers (weight multiply-adds only;
    BN, pooling, activations, adds and the SE Mul are not counted)."""
    total = [0]
    hooks = []

    def conv_hook(m, inp, out):
        n = out.shape[0]
        total[0] += (out.numel() // n) * (m.in_channels // m.groups) * \
            m.kernel_size[0] * m.kernel_size[1]

    def lin_hook(m, inp, out):
        n = out.shape[0]
        total[0] += (out.numel() // n) * m.in_features

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(lin_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total[0]


def count_params(model):
    """Trainable parameters (BN running stats not included)."""
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------
# training / evaluation
# --------------------------------------------------------------------------

def train(model, xtr, ytr, lr, log):
    g = torch.Generator()
    g.manual_seed(SEED)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM,
                          weight_decay=WEIGHT_DECAY)
    n = xtr.shape[0]
    for ep in range(EPOCHS):
        model.train()
        perm = torch.randperm(n, generator=g)
        t0 = time.time()
        tot_loss = 0.0
        correct = 0
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            xb, yb = xtr[idx], ytr[idx]
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot_loss += loss.item() * xb.shape[0]
            correct += (out.argmax(1) == yb).sum().item()
        log("  epoch %d: loss %.4f train-acc %.4f (%.1fs)" %
            (ep + 1, tot_loss / n, correct / n, time.time() - t0))


def evaluate(model, xte, yte):
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, xte.shape[0], 500):
            outs.append(model(xte[i:i + 500]))
    logits = torch.cat(outs)
    top1 = (logits.argmax(1) == yte)
    top5 = (logits.topk(5, dim=1).indices == yte[:, None]).any(1)
    return logits, int(top1.sum().item()), int(top5.sum().item())


# --------------------------------------------------------------------------
# ONNX export
# --------------------------------------------------------------------------

def export(model, name, opset, opts, log, check_x=None, check_y=None):
    path = os.path.join(OUT, "%s.op%d.onnx" % (name, opset))
    kw = {}
    if opts.get("preserve_bn"):
        # Eval-mode export with constant folding would fuse BN into the Conv;
        # PRESERVE keeps BatchNormalization nodes (in inference form since the
        # module is in eval mode).
        kw["training"] = torch.onnx.TrainingMode.PRESERVE
        kw["do_constant_folding"] = False
    else:
        kw["training"] = torch.onnx.TrainingMode.EVAL
        kw["do_constant_folding"] = True
    keep = bool(opts.get("keep_init_op11")) and opset == 11
    model.eval()
    dummy = torch.zeros(2, 1, 28, 28)
    torch.onnx.export(
        model, dummy, path,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=opset,
        keep_initializers_as_inputs=keep,
        **kw)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    onnx.checker.check_model(path)
    inf = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    outs = inf.graph.output
    assert outs[0].name == "logits"
    dims = outs[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 10, dims
    assert m.graph.input[0].name == "input"
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    ops = sorted(set(n.op_type for n in m.graph.node))
    init_names = set(i.name for i in m.graph.initializer)
    n_init_inputs = sum(1 for i in m.graph.input if i.name in init_names)
    if opts.get("preserve_bn"):
        assert "BatchNormalization" in ops, "BN was fused away in %s" % path
    if keep:
        assert n_init_inputs > 0
    err = float("nan")
    if check_x is not None:
        got = run_onnx_reference(m, check_x)
        err = float(np.abs(got - check_y).max())
        assert got.shape == check_y.shape and err < 1e-3, (path, err)
    log("  %s: %d bytes, ir_version %d, %d nodes, %d graph inputs (%d initializers-as-inputs), "
        "max |onnx-ref - torch| %.2e, ops %s" %
        (os.path.basename(path), os.path.getsize(path), m.ir_version,
         len(m.graph.node), len(m.graph.input), n_init_inputs, err, ",".join(ops)))
    return path


# --------------------------------------------------------------------------
# tiny independent ONNX interpreter (torch functional ops) used to check that
# every exported file reproduces torch's logits
# --------------------------------------------------------------------------

def run_onnx_reference(model, x):
    g = model.graph
    env = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in g.initializer}
    env[g.input[0].name] = torch.from_numpy(x)

    def A(n):
        return {a.name: helper.get_attribute_value(a) for a in n.attribute}

    for n in g.node:
        a = A(n)
        i = [env[k] if k else None for k in n.input]
        t = n.op_type
        if t == "Conv":
            k = a["kernel_shape"]
            pads = a.get("pads", [0] * 4)
            assert pads[0] == pads[2] and pads[1] == pads[3]
            y = F.conv2d(i[0], i[1], i[2] if len(i) > 2 else None,
                         stride=a.get("strides", [1, 1]), padding=pads[:2],
                         dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
            assert list(i[1].shape[2:]) == list(k)
        elif t == "BatchNormalization":
            y = F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get("epsilon", 1e-5))
        elif t == "Relu":
            y = F.relu(i[0])
        elif t == "LeakyRelu":
            y = F.leaky_relu(i[0], a.get("alpha", 0.01))
        elif t == "Sigmoid":
            y = torch.sigmoid(i[0])
        elif t == "HardSigmoid":
            y = torch.clamp(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0.0, 1.0)
        elif t == "Clip":
            lo = i[1] if len(i) > 1 and i[1] is not None else None
            hi = i[2] if len(i) > 2 and i[2] is not None else None
            y = torch.clamp(i[0], None if lo is None else float(lo), None if hi is None else float(hi))
        elif t == "Add":
            y = i[0] + i[1]
        elif t == "Mul":
            y = i[0] * i[1]
        elif t in ("MaxPool", "AveragePool"):
            pads = a.get("pads", [0] * 4)
            assert pads[0] == pads[2] and pads[1] == pads[3] and not a.get("ceil_mode", 0)
            if t == "MaxPool":
                y = F.max_pool2d(i[0], a["kernel_shape"], a.get("strides", [1, 1]), pads[:2])
            else:
                y = F.avg_pool2d(i[0], a["kernel_shape"], a.get("strides", [1, 1]), pads[:2],
                                 count_include_pad=bool(a.get("count_include_pad", 0)))
        elif t == "GlobalAveragePool":
            y = i[0].mean(dim=(2, 3), keepdim=True)
        elif t == "Pad":
            p = [int(v) for v in i[1]]
            r = len(p) // 2
            assert a.get("mode", b"constant") == b"constant"
            tp = []
            for d in reversed(range(r)):
                tp += [p[d], p[d + r]]
            y = F.pad(i[0], tp, value=float(i[2]) if len(i) > 2 and i[2] is not None else 0.0)
        elif t == "Flatten":
            ax = a.get("axis", 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif t == "Gemm":
            A_ = i[0].t() if a.get("transA", 0) else i[0]
            B_ = i[1].t() if a.get("transB", 0) else i[1]
            y = a.get("alpha", 1.0) * (A_ @ B_)
            if len(i) > 2 and i[2] is not None:
                y = y + a.get("beta", 1.0) * i[2]
        elif t == "Reshape":
            y = i[0].reshape([int(v) for v in i[1]])
        elif t == "Shape":
            y = torch.tensor(list(i[0].shape), dtype=torch.int64)
        elif t == "Gather":
            y = torch.index_select(i[0], a.get("axis", 0), i[1].reshape(-1)).reshape(
                list(i[0].shape[:a.get("axis", 0)]) + list(i[1].shape) +
                list(i[0].shape[a.get("axis", 0) + 1:]))
        elif t == "Unsqueeze":
            axes = a["axes"] if "axes" in a else [int(v) for v in i[1]]
            y = i[0]
            for ax in sorted(axes):
                y = y.unsqueeze(ax)
        elif t == "Concat":
            y = torch.cat(i, dim=a["axis"])
        elif t == "Constant":
            y = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
        elif t == "Identity":
            y = i[0]
        else:
            raise NotImplementedError(t)
        env[n.output[0]] = y
    return env[g.output[0].name].numpy()


# --------------------------------------------------------------------------
# hand-built edge fixtures
# --------------------------------------------------------------------------

def save_model(model, fname, log):
    path = os.path.join(OUT, fname)
    onnx.checker.check_model(model)
    onnx.shape_inference.infer_shapes(model)   # non-strict: must not throw
    onnx.save(model, path)
    log("  %s: %d bytes, ops %s" % (fname, os.path.getsize(path),
                                    ",".join(n.op_type for n in model.graph.node)))


def make_edge_fixtures(log):
    rng = np.random.RandomState(7)
    opset = [helper.make_opsetid("", 13)]

    # 1. valid model with an op nadapt does not support (Einsum).
    w = numpy_helper.from_array(rng.randn(784, 10).astype(np.float32) * 0.01, "W")
    g = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"], axis=1),
         helper.make_node("Einsum", ["flat", "W"], ["logits"], equation="bi,ij->bj")],
        "bad_unsupported_op",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=[w])
    m = helper.make_model(g, opset_imports=opset, producer_name="nadapt-make_fixtures")
    save_model(m, "bad_unsupported_op.onnx", log)

    # 2. valid protobuf, Gemm weight expects 700 features but gets 784.
    w = numpy_helper.from_array(rng.randn(10, 700).astype(np.float32) * 0.01, "W")
    b = numpy_helper.from_array(np.zeros(10, np.float32), "B")
    g = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"], axis=1),
         helper.make_node("Gemm", ["flat", "W", "B"], ["logits"], transB=1)],
        "bad_shape",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=[w, b])
    m = helper.make_model(g, opset_imports=opset, producer_name="nadapt-make_fixtures")
    onnx.checker.check_model(m)
    try:
        onnx.shape_inference.infer_shapes(m, strict_mode=True)
        log("  note: strict shape inference did NOT flag bad_shape.onnx")
    except Exception as e:  # expected
        log("  bad_shape.onnx: strict shape inference rejects it as intended: %s" %
            str(e).splitlines()[0][:160])
    save_model(m, "bad_shape.onnx", log)

    # 3. tiny_gemm: Flatten -> Gemm(transB=1, alpha=0.5, beta=2.0) -> Add(Constant)
    B = rng.randn(4, 6).astype(np.float32)
    C = rng.randn(4).astype(np.float32)
    K = rng.randn(4).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"], axis=1),
         helper.make_node("Gemm", ["flat", "B", "C"], ["gemm"],
                          transB=1, alpha=0.5, beta=2.0),
         helper.make_node("Constant", [], ["k"],
                          value=numpy_helper.from_array(K, "k_value")),
         helper.make_node("Add", ["gemm", "k"], ["output"])],
        "tiny_gemm",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 2, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 4])],
        initializer=[numpy_helper.from_array(B, "B"), numpy_helper.from_array(C, "C")])
    m = helper.make_model(g, opset_imports=opset, producer_name="nadapt-make_fixtures")
    save_model(m, "tiny_gemm.onnx", log)
    x = rng.randn(3, 2, 3).astype(np.float32)
    try:
        from onnx.reference import ReferenceEvaluator  # onnx >= 1.13
        y = ReferenceEvaluator(m).run(None, {"input": x})[0]
        how = "onnx.reference"
    except ImportError:
        xf = x.reshape(x.shape[0], -1).astype(np.float64)
        y = (0.5 * xf @ B.astype(np.float64).T + 2.0 * C + K).astype(np.float32)
        how = "numpy (float64, rounded to float32)"
    y_ref = run_onnx_reference(m, x)
    assert np.abs(y_ref - y).max() < 1e-5
    x.astype("<f4").tofile(os.path.join(OUT, "tiny_gemm.in.f32"))
    y.astype("<f4").tofile(os.path.join(OUT, "tiny_gemm.out.f32"))
    log("  tiny_gemm expected output (%s), input shape %s, output %s" %
        (how, x.shape, y.shape))


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--only-edge", action="store_true",
                    help="only write the hand-built edge fixtures and .npy files")
    ap.add_argument("--models", default=",".join(m[0] for m in MODELS))
    args = ap.parse_args()

    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)

    def log(s):
        print(s, flush=True)

    log("torch %s, onnx %s, numpy %s" % (torch.__version__, onnx.__version__, np.__version__))
    xtr_u8, ytr_u8, xte_u8, yte_u8 = load_fmnist(args.data)

    np.save(os.path.join(OUT, "fmnist_test256_images.npy"), np.ascontiguousarray(xte_u8[:256]))
    np.save(os.path.join(OUT, "fmnist_test256_labels.npy"), yte_u8[:256].astype(np.int64))
    make_edge_fixtures(log)
    if args.only_edge:
        return

    xtr = torch.from_numpy(preprocess(xtr_u8))
    ytr = torch.from_numpy(ytr_u8.astype(np.int64))
    xte = torch.from_numpy(preprocess(xte_u8))
    yte = torch.from_numpy(yte_u8.astype(np.int64))

    wanted = args.models.split(",")
    manifest_path = os.path.join(OUT, "manifest.tsv")
    header = ["name", "params", "macs_per_image", "torch_top1", "torch_top5",
              "correct", "epochs", "batch", "lr", "momentum", "weight_decay",
              "schedule", "seed", "mean", "std"]
    rows = {}
    if os.path.exists(manifest_path):   # keep rows of models not rebuilt now
        with open(manifest_path) as f:
            lines = f.read().splitlines()
        for ln in lines[1:]:
            if ln.strip():
                rows[ln.split("\t")[0]] = ln

    t_all = time.time()
    for name, ctor, lr, opts in MODELS:
        if name not in wanted:
            continue
        torch.manual_seed(SEED)
        np.random.seed(SEED)
        model = ctor()
        params = count_params(model)
        macs = count_macs(model)
        log("%s: %d params, %d MACs/image, lr %g" % (name, params, macs, lr))
        t0 = time.time()
        train(model, xtr, ytr, lr, log)
        logits, c1, c5 = evaluate(model, xte, yte)
        log("  test top1 %.4f top5 %.4f (train+eval %.1fs)" %
            (c1 / 1e4, c5 / 1e4, time.time() - t0))
        logits[:64].numpy().astype("<f4").tofile(
            os.path.join(OUT, "%s.logits64.f32" % name))
        x64 = xte[:64].numpy()
        y64 = logits[:64].numpy()
        for opset in (11, 13):
            export(model, name, opset, opts, log, x64, y64)
        rows[name] = "\t".join(str(v) for v in [
            name, params, macs, "%.4f" % (c1 / 1e4), "%.4f" % (c5 / 1e4), c1,
            EPOCHS, BATCH, lr, MOMENTUM, WEIGHT_DECAY, SCHEDULE, SEED,
            "%.4f" % MEAN, "%.4f" % STD])
    order = [m[0] for m in MODELS]
    with open(manifest_path, "w") as f:
        f.write("\t".join(header) + "\n")
        for name in order:
            if name in rows:
                f.write(rows[name] + "\n")
    log("done in %.1fs" % (time.time() - t_all))


if __name__ == "__main__":
    sys.exit(main())
