#!/usr/bin/python3
"""PyTorch peer for gradus's benchmarks: the MLP SGD step and per-example gradients.

Run by bench/run.ts (and bench/mlp_step.ts, bench/per_example.ts) with the system python3 when
`import torch` works (Debian's python3-torch, PyTorch 1.13: per-example gradients come from
functorch's vmap(grad); torch.func does not exist yet). The weights and data are read from the
manifests the TypeScript side writes (bench/data.ts), so every framework starts from the same
numbers; without a manifest, seeded random data of the same shapes is used.

Prints one JSON object on stdout. Times are medians in milliseconds at `--threads` threads (1 is
the like-for-like comparison with single-threaded wasm; the runner also sets OPENBLAS_NUM_THREADS
and OMP_NUM_THREADS, which OpenBLAS reads at load time).

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_bench.py --mlp m.json --per-example p.json
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

try:
    import functorch
except ImportError:  # pragma: no cover - functorch ships with Debian's python3-torch 1.13
    functorch = None


def load(manifest_path, sizes, batch):
    if manifest_path:
        with open(manifest_path) as f:
            m = json.load(f)
        flat = np.fromfile(m["bin"], dtype="<f4")
        arrays = {}
        for e in m["arrays"]:
            n = int(np.prod(e["shape"]))
            arrays[e["name"]] = torch.from_numpy(flat[e["offset"]:e["offset"] + n].reshape(e["shape"]).copy())
        layers = [(arrays[f"w{i}"], arrays[f"b{i}"]) for i in range(m["layers"])]
        return layers, arrays["x"], arrays["y"]
    g = torch.Generator().manual_seed(0)
    layers = [(torch.randn(i, o, generator=g) * (2 / i) ** 0.5, torch.zeros(o)) for i, o in zip(sizes[:-1], sizes[1:])]
    x = torch.randn(batch, sizes[0], generator=g)
    y = F.one_hot(torch.arange(batch) * 7 % sizes[-1], sizes[-1]).float()
    return layers, x, y


def flat_params(layers):
    return [t for wb in layers for t in wb]


def mlp_loss(params, x, y):
    """Mean softmax cross-entropy of a relu MLP; params = [w0, b0, w1, b1, ...], w as [in, out]."""
    h = x
    n = len(params) // 2
    for i in range(n):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < n - 1:
            h = torch.relu(h)
    return -(F.log_softmax(h, dim=-1) * y).sum(-1).mean()


def timed(fn, warmup=5, runs=25):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return {"medianMs": statistics.median(ts), "minMs": min(ts), "runs": runs}


def global_norm(ts):
    return float(torch.sqrt(sum((t.double() ** 2).sum() for t in ts)))


def bench_mlp(manifest):
    layers, x, y = load(manifest, [784, 512, 512, 10], 128)
    params = [p.clone().requires_grad_(True) for p in flat_params(layers)]

    def step():
        loss = mlp_loss(params, x, y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            return [p - 0.01 * g for p, g in zip(params, grads)]

    loss = mlp_loss(params, x, y)
    grads = torch.autograd.grad(loss, params)
    return {"loss": float(loss), "gradNorm": global_norm(grads), "step": timed(step)}


def bench_per_example(manifest, clip=1.0, noise=1.1):
    layers, x, y = load(manifest, [784, 128, 10], 64)
    params = [p.clone().requires_grad_(True) for p in flat_params(layers)]
    batch = x.shape[0]

    def loss1(ps, xi, yi):  # one example
        return mlp_loss(ps, xi.unsqueeze(0), yi.unsqueeze(0))

    def batched():
        return torch.autograd.grad(mlp_loss(params, x, y), params)

    def loop():
        return [torch.autograd.grad(loss1(params, x[i], y[i]), params) for i in range(batch)]

    out = {"batchedGradNorm": global_norm(batched())}
    if functorch is not None:
        detached = [p.detach() for p in params]
        per_ex = functorch.vmap(functorch.grad(loss1), in_dims=(None, 0, 0))

        def vmapped():
            return per_ex(detached, x, y)

        def dpsgd():
            g = per_ex(detached, x, y)
            norms = torch.sqrt(sum((t.reshape(batch, -1) ** 2).sum(1) for t in g))
            factor = torch.clamp(clip / (norms + 1e-6), max=1.0)
            summed = [(t * factor.reshape(-1, *[1] * (t.dim() - 1))).sum(0) for t in g]
            return [(s + noise * clip * torch.randn_like(s)) / batch for s in summed]

        mean_of_per_example = [t.mean(0) for t in vmapped()]
        out["meanPerExampleGradNorm"] = global_norm(mean_of_per_example)
    out["batched"] = timed(batched)
    out["loop"] = timed(loop, warmup=2, runs=7)
    if functorch is not None:
        out["vmap"] = timed(vmapped)
        out["dpsgd"] = timed(dpsgd)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mlp", help="manifest for the 784-512-512-10 MLP step ('' for seeded data)")
    ap.add_argument("--per-example", dest="per_example", help="manifest for the 784-128-10 per-example benchmark")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (set OPENBLAS_NUM_THREADS/OMP_NUM_THREADS alike)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result = {
        "torch": torch.__version__,
        "functorch": getattr(functorch, "__version__", None),
        "python": sys.version.split()[0],
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "blasThreadsEnv": os.environ.get("OPENBLAS_NUM_THREADS"),
    }
    if args.mlp is not None:
        result["mlpStep"] = bench_mlp(args.mlp or None)
    if args.per_example is not None:
        result["perExample"] = bench_per_example(args.per_example or None)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
