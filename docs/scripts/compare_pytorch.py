#!/usr/bin/env python3
"""Cross-check leuknode's CNN engine against PyTorch, and benchmark both side by side.

Outside the test suite: it needs PyTorch and the `safetensors` package (`pip install torch safetensors`)
and a built `leuknode` binary (`swift build -c release --product leuknode`).

    python3 docs/scripts/compare_pytorch.py                 # correctness checks
    python3 docs/scripts/compare_pytorch.py --bench         # plus the side-by-side benchmark table
    python3 docs/scripts/compare_pytorch.py --kernels all   # each kernel set against PyTorch, in pairs

With --kernels (a comma-separated list of avx512, avx2, portable, or `all`), the correctness checks run once
per kernel set (LEUKNODE_KERNELS forces it in the engine process), then each set is measured against
PyTorch channels-last on 1 thread, alternated: pair after pair, PyTorch then leuknode with that set, so
both see the same machine load. The table gives the median of the pairs (--pairs, at least 3) and the
median of the per-pair ratios, the load average (`os.getloadavg`) around every pair, and GFLOP/s against
this CPU's sgemm peak (numpy, 2048^3, 1 thread, measured in the same run). A set this CPU lacks is
reported as skipped (leuknode refuses it), never measured as another set.

For the avx2 set the engine also runs OpenBLAS's AVX2 kernel (OPENBLAS_CORETYPE=Haswell, for the dense
layers), and each pair adds a PyTorch run limited to AVX2 (ATEN_CPU_CAPABILITY=avx2,
ONEDNN_MAX_CPU_ISA=AVX2): what an AVX2-only server would run. PyTorch runs in a child process of this
script, so that those variables take effect.

Checks (LeukNet-S, PyTorch's default initialisation, 8 random normalised 64x64 images):
  1. the same weights (a PyTorch state_dict saved as safetensors and loaded by leuknode) give the same
     logits, absolute tolerance 1e-5;
  2. the same loss and gradients (one backward pass) for every parameter tensor;
  3. the same losses over two SGD steps (momentum 0.9, weight decay 5e-4) and after them.
LeukNet-M's logits are compared too (its dropout makes training steps framework-specific).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file


class LeukNetS(nn.Module):
    """The reference network of performance.md."""

    def __init__(self, classes=2):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 8 * 8, 64)
        self.fc2 = nn.Linear(64, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class LeukNetM(nn.Module):
    """leuknode's stronger architecture: conv-GroupNorm(8)-ReLU-maxpool x4, dense 2048-128-classes."""

    def __init__(self, classes=2):
        super().__init__()
        widths = [3, 32, 64, 128, 128]
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Conv2d(widths[i], widths[i + 1], 3, padding=1))
            setattr(self, f"gn{i + 1}", nn.GroupNorm(8, widths[i + 1]))
        self.fc1 = nn.Linear(128 * 4 * 4, 128)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        for i in range(4):
            x = getattr(self, f"conv{i + 1}")(x)
            x = F.max_pool2d(F.relu(getattr(self, f"gn{i + 1}")(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(self.drop(F.relu(self.fc1(x))))


METADATA = {"classes": "hem,all", "input_size": "64", "mean": "0,0,0", "std": "1,1,1"}


def save_model(model, architecture, path):
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, path, metadata=dict(METADATA, architecture=architecture))


def run_engine(leuknode, model_path, x, y, directory, steps=2, lr=0.01, momentum=0.9, weight_decay=5e-4, env=None):
    inputs = os.path.join(directory, "inputs.safetensors")
    out = os.path.join(directory, "engine.safetensors")
    save_file({"inputs": x.contiguous(), "labels": y.float()}, inputs)
    subprocess.run([leuknode, "bench", "reference", "--model", model_path, "--input", inputs, "--out", out,
                    "--lr", str(lr), "--momentum", str(momentum), "--weight-decay", str(weight_decay),
                    "--steps", str(steps)], check=True, env=env)
    return load_file(out)


def check(name, ok, detail):
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return ok


def correctness(leuknode, env=None):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    all_ok = True
    with tempfile.TemporaryDirectory() as directory:
        x = torch.randn(8, 3, 64, 64)
        y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
        model = LeukNetS()
        path = os.path.join(directory, "leuknet-s.safetensors")
        save_model(model, "leuknet-s", path)
        engine = run_engine(leuknode, path, x, y, directory, env=env)

        logits = model(x)
        diff = (logits - engine["logits"]).abs().max().item()
        all_ok &= check("LeukNet-S logits", diff <= 1e-5, f"max |torch - engine| = {diff:.3e} (tolerance 1e-5)")

        loss = F.cross_entropy(logits, y)
        model.zero_grad()
        loss.backward()
        diff = abs(loss.item() - engine["loss"].item())
        all_ok &= check("LeukNet-S loss", diff <= 1e-5, f"torch {loss.item():.7f} engine {engine['loss'].item():.7f}")
        for name, parameter in model.named_parameters():
            grad = parameter.grad
            diff = (grad - engine[f"grad.{name}"]).abs().max().item()
            scale = grad.abs().max().item()
            all_ok &= check(f"gradient {name:13s}", diff <= 1e-5 + 1e-4 * scale,
                            f"max |diff| = {diff:.3e}, max |grad| = {scale:.3e}")

        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        losses = []
        for _ in range(2):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            losses.append(loss.item())
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            losses.append(F.cross_entropy(model(x), y).item())
        engine_losses = engine["sgd_losses"].tolist()
        diff = max(abs(a - b) for a, b in zip(losses, engine_losses))
        all_ok &= check("two SGD steps", diff <= 1e-5,
                        f"torch {['%.7f' % v for v in losses]} engine {['%.7f' % v for v in engine_losses]}")

        model_m = LeukNetM().eval()
        path_m = os.path.join(directory, "leuknet-m.safetensors")
        save_model(model_m, "leuknet-m", path_m)
        engine_m = run_engine(leuknode, path_m, x, y, directory, steps=0, env=env)
        with torch.no_grad():
            diff = (model_m(x) - engine_m["logits"]).abs().max().item()
        all_ok &= check("LeukNet-M logits", diff <= 1e-5, f"max |torch - engine| = {diff:.3e} (tolerance 1e-5)")
    return all_ok


def torch_bench(threads, channels_last, runs=7, steps=10, batches=30):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = LeukNetS()
    x = torch.randn(32, 3, 64, 64)
    y = torch.arange(32) % 2
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    for _ in range(3):
        step()
    train = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        train.append(32 * steps / (time.perf_counter() - start))
    model.eval()
    infer = []
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        for _ in range(runs):
            start = time.perf_counter()
            for _ in range(batches):
                model(x)
            infer.append(32 * batches / (time.perf_counter() - start))
        one = x[:1]
        for _ in range(20):
            model(one)
        latencies = []
        for _ in range(300):
            start = time.perf_counter()
            torch.softmax(model(one), 1)
            latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    return {"train_images_per_s": statistics.median(train), "infer_images_per_s": statistics.median(infer),
            "latency_ms_p50": statistics.median(latencies), "latency_ms_p99": latencies[int(0.99 * (len(latencies) - 1))]}


def engine_bench(leuknode, threads, env=None):
    out = subprocess.run([leuknode, "bench", "--threads", str(threads), "--json"], check=True, capture_output=True, text=True,
                         env=env)
    return json.loads(out.stdout)


# MARK: each kernel set against PyTorch channels-last, alternated in pairs

KERNEL_SETS = ["avx512", "avx2", "portable"]
# FLOPs of LeukNet-S per image (docs/performance.md): forward 22.94 M, a training step about 3x that.
TRAIN_FLOP, INFER_FLOP = 68.8e6, 22.94e6
# PyTorch and OpenBLAS limited to AVX2, as on a CPU without AVX-512.
AVX2_TORCH_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def engine_env(kernel_set):
    env = dict(os.environ, LEUKNODE_KERNELS=kernel_set)
    env.pop("LEUKNODE_PORTABLE_KERNELS", None)
    if kernel_set == "avx2":
        env["OPENBLAS_CORETYPE"] = "Haswell"
    return env


def torch_bench_child(threads, extra_env=None):
    """torch_bench (channels-last) in a fresh child process, so that ISA variables take effect."""
    env = dict(os.environ, **(extra_env or {}))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-worker", str(threads)], check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


def sgemm_peak():
    """GFLOP/s of a 2048^3 float32 matrix product in numpy (OpenBLAS) on 1 thread: best of 5."""
    code = ("import numpy, time\n"
            "a = numpy.random.rand(2048, 2048).astype(numpy.float32); b = a.copy(); a @ b\n"
            "best = min(__import__('timeit').repeat(lambda: a @ b, number=1, repeat=5))\n"
            "print(2 * 2048 ** 3 / best / 1e9)")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    try:
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
        return float(out.stdout)
    except (subprocess.CalledProcessError, ValueError):
        return None


def load():
    return "%.2f" % os.getloadavg()[0]


def kernel_bench(leuknode, kernel_sets, pairs, skipped, threads=1):
    """Each set against PyTorch channels-last, alternated: `pairs` rounds of (PyTorch, leuknode set).
    `skipped` maps the sets leuknode refused on this CPU to its message; they are listed, not run."""
    print("\nsgemm peak (numpy/OpenBLAS 2048^3, 1 thread): measuring...", flush=True)
    peak = sgemm_peak()
    print(f"sgemm peak: {peak:.1f} GFLOP/s" if peak else "sgemm peak: numpy not available", flush=True)
    results = {k: [] for k in kernel_sets}
    started = time.strftime("%H:%M:%S", time.gmtime())
    for index in range(pairs):
        for kernel_set in kernel_sets:
            if kernel_set in skipped:
                continue
            before = load()
            torch_default = torch_bench_child(threads)
            torch_avx2 = torch_bench_child(threads, AVX2_TORCH_ENV) if kernel_set == "avx2" else None
            engine = engine_bench(leuknode, threads, env=engine_env(kernel_set))
            if engine.get("vector_kernels") != kernel_set:
                raise SystemExit(f"asked for {kernel_set}, leuknode ran {engine.get('vector_kernels')}")
            after = load()
            results[kernel_set].append({"torch": torch_default, "torch_avx2": torch_avx2, "engine": engine,
                                        "load": f"{before}-{after}"})
            line = (f"pair {index + 1} {kernel_set:8s} load {before}-{after}: leuknode train "
                    f"{engine['train_images_per_s']:.0f} / PyTorch CL {torch_default['train_images_per_s']:.0f}")
            if torch_avx2:
                line += f" / PyTorch CL AVX2 {torch_avx2['train_images_per_s']:.0f}"
            print(line + " img/s", flush=True)
    finished = time.strftime("%H:%M:%S", time.gmtime())

    def median(values):
        return statistics.median(values) if values else float("nan")

    print()
    print(f"torch {torch.__version__}; {threads} thread; {pairs} alternated pairs per set, {started}-{finished} UTC; "
          f"medians; ratio = median of the per-pair ratios")
    print("| kernel set | PyTorch baseline | leuknode train img/s | PyTorch CL train img/s | train ratio | "
          "leuknode GFLOP/s (% of sgemm peak) | leuknode infer img/s | PyTorch CL infer img/s | infer ratio | "
          "load average per pair |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kernel_set in kernel_sets:
        if kernel_set in skipped:
            print(f"| {kernel_set} | skipped: {skipped[kernel_set]} | | | | | | | | |")
            continue
        runs = results[kernel_set]
        baselines = [("torch", "channels-last")]
        if kernel_set == "avx2":
            baselines.append(("torch_avx2", "channels-last, AVX2 only"))
        for key, label in baselines:
            train = median([r["engine"]["train_images_per_s"] for r in runs])
            torch_train = median([r[key]["train_images_per_s"] for r in runs])
            infer = median([r["engine"]["infer_images_per_s"] for r in runs])
            torch_infer = median([r[key]["infer_images_per_s"] for r in runs])
            train_ratio = median([r["engine"]["train_images_per_s"] / r[key]["train_images_per_s"] for r in runs])
            infer_ratio = median([r["engine"]["infer_images_per_s"] / r[key]["infer_images_per_s"] for r in runs])
            gflops = train * TRAIN_FLOP / 1e9
            share = f" ({100 * gflops / peak:.0f}%)" if peak else ""
            loads = ", ".join(r["load"] for r in runs)
            print(f"| {kernel_set} | {label} | {train:.0f} | {torch_train:.0f} | {train_ratio:.2f}x | {gflops:.1f}{share} | "
                  f"{infer:.0f} | {torch_infer:.0f} | {infer_ratio:.2f}x | {loads} |")
    blas = {k: results[k][0]["engine"]["blas_kernel"] for k in kernel_sets if results[k]}
    print(f"OpenBLAS kernel per set: {blas}")


def bench(leuknode, thread_counts):
    rows = []
    for threads in thread_counts:
        rows.append(("PyTorch NCHW", threads, torch_bench(threads, channels_last=False)))
        rows.append(("PyTorch channels-last", threads, torch_bench(threads, channels_last=True)))
        rows.append(("leuknode", threads, engine_bench(leuknode, threads)))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(f"torch {torch.__version__}; PyTorch process peak RSS {rss:.0f} MiB (whole Python process, all runs)")
    print("| engine | threads | train img/s | infer img/s | latency p50 ms | latency p99 ms | train peak RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, threads, r in rows:
        memory = f"{r['train_peak_rss_mib']:.1f}" if "train_peak_rss_mib" in r else "see above"
        print(f"| {name} | {threads} | {r['train_images_per_s']:.0f} | {r['infer_images_per_s']:.0f} | "
              f"{r['latency_ms_p50']:.3f} | {r['latency_ms_p99']:.3f} | {memory} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leuknode", default=".build/release/leuknode", help="path to the leuknode binary")
    parser.add_argument("--bench", action="store_true", help="also run the side-by-side benchmark")
    parser.add_argument("--threads", default="1,2", help="thread counts for the benchmark")
    parser.add_argument("--kernels", help="kernel sets to check and measure against PyTorch: a comma-separated "
                                          "list of avx512, avx2, portable, or `all`")
    parser.add_argument("--pairs", type=int, default=3, help="alternated PyTorch/leuknode pairs per kernel set (>= 3)")
    parser.add_argument("--torch-worker", type=int, metavar="THREADS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_worker:
        print(json.dumps(torch_bench(args.torch_worker, channels_last=True)))
        return
    print(f"torch {torch.__version__}, leuknode {args.leuknode}")
    if args.kernels:
        kernel_sets = KERNEL_SETS if args.kernels == "all" else args.kernels.split(",")
        unknown = [k for k in kernel_sets if k not in KERNEL_SETS]
        if unknown or args.pairs < 3:
            parser.error(f"unknown kernel sets {unknown}" if unknown else "--pairs must be at least 3")
        ok, skipped = True, {}
        for kernel_set in kernel_sets:
            # leuknode checks LEUKNODE_KERNELS before anything else and refuses a set this CPU lacks.
            probe = subprocess.run([args.leuknode, "--version"], capture_output=True, text=True, env=engine_env(kernel_set))
            if probe.returncode != 0:
                skipped[kernel_set] = probe.stderr.strip().splitlines()[0] if probe.stderr.strip() else "refused"
                print(f"SKIP  {kernel_set}: {skipped[kernel_set]}")
                continue
            print(f"--- correctness with LEUKNODE_KERNELS={kernel_set}")
            ok &= correctness(args.leuknode, env=engine_env(kernel_set))
        kernel_bench(args.leuknode, kernel_sets, args.pairs, skipped)
        sys.exit(0 if ok else 1)
    ok = correctness(args.leuknode)
    if args.bench:
        bench(args.leuknode, [int(t) for t in args.threads.split(",")])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
