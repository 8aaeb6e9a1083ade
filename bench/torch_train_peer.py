#!/usr/bin/python3
"""PyTorch peer for bench_train: SGD-step throughput (forward, cross-entropy,
backward, update) of a fixture architecture, built by the same constructor that
made the fixture (examples/make_fixtures.py), on Fashion-MNIST batches.

Thread count: Debian's torch uses OpenBLAS, whose pool ignores
torch.set_num_threads, so OPENBLAS_NUM_THREADS is set before torch loads
(see ../shared/reference/peers.md).  Prints one line:
    images_per_s <float> steps <int> batch <int> threads <int>
"""
import argparse
import importlib.util
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--model", default="cnn_bn")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--steps", type=int, default=40)
ap.add_argument("--warmup", type=int, default=5)
ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
args = ap.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
os.environ["OMP_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(here, "..", "examples", "make_fixtures.py"))
mf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mf)
ctor = {m[0]: m[1] for m in mf.MODELS}[args.model]

xtr, ytr, _, _ = mf.load_fmnist(args.data)
x = torch.from_numpy(mf.preprocess(xtr))
y = torch.from_numpy(ytr.astype(np.int64))
torch.manual_seed(1)
model = ctor()
model.train()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
g = torch.Generator()
g.manual_seed(1)
perm = torch.randperm(x.shape[0], generator=g)


def step(i):
    idx = perm[(i * args.batch) % (x.shape[0] - args.batch):][:args.batch]
    xb, yb = x[idx], y[idx]
    loss = F.cross_entropy(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()


for i in range(args.warmup):
    step(i)
t0 = time.perf_counter()
for i in range(args.steps):
    step(args.warmup + i)
dt = time.perf_counter() - t0
print("images_per_s %.1f steps %d batch %d threads %d" % (args.steps * args.batch / dt, args.steps, args.batch,
                                                          args.threads))
sys.stdout.flush()
