#!/usr/bin/env python3
"""Host overhead of an eager torch.ops.ropekit.rotary_embedding call, relative to
torch.ops.aten.add_ on a one-element tensor, measured in the same run.

Requirement (issue 5): on CUDA tensors the in-place op costs at most 2x the add_ call. Prints a
markdown table and exits 1 when the ratio is over the limit (2 when the problem is too small for
the GPU to be the bottleneck, which this script checks by timing the op's kernels alone).

    python3 bench/python/host_overhead.py                 # CUDA if visible, else CPU
    python3 bench/python/host_overhead.py --device cpu
"""
import argparse
import datetime
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import ropekit
import ropekit.torch_ops
from model_shapes import find_model_shape  # the one table, tools/common (this folder)

LIMIT = 2.0


def per_call_microseconds(call, device, iterations, repeats):
    """Median over `repeats` of the mean wall time of `iterations` back-to-back calls.

    On CUDA the calls are asynchronous: the time is the host's (launch) cost as long as the GPU
    keeps up, and the synchronize at the end adds one kernel's latency spread over all calls."""
    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(max(100, iterations // 10)):  # warm up caches, allocator, lazy init
        call()
    synchronize()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            call()
        synchronize()
        samples.append((time.perf_counter() - start) / iterations * 1e6)
    return statistics.median(samples)


def gpu_microseconds(call, device, iterations):
    """GPU time per call from CUDA events (None on the CPU): shows whether the GPU or the host
    bounds the loop above."""
    if device.type != "cuda":
        return None
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(100):
            call()
    graph.replay()
    torch.cuda.synchronize(device)
    start.record()
    for _ in range(max(1, iterations // 100)):
        graph.replay()
    end.record()
    torch.cuda.synchronize(device)
    return start.elapsed_time(end) * 1e3 / (max(1, iterations // 100) * 100)


def problem(device, tokens, num_heads, num_kv_heads, head_size, dtype):
    positions = torch.randint(0, 4096, (tokens,), device=device)
    query = torch.randn(tokens, num_heads * head_size, device=device, dtype=dtype)
    key = torch.randn(tokens, num_kv_heads * head_size, device=device, dtype=dtype)
    cache = ropekit.build_cos_sin_cache(4096, head_size, 500000.0, dtype=dtype).to(device)
    return positions, query, key, head_size, cache


def commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.init()
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = f"CPU ({platform.processor() or platform.machine()})"

    one = torch.ones(1, device=device)
    accumulator = torch.zeros(1, device=device)
    # Llama-3.1-8B decode of one token (bf16): the shape an engine calls the op with at its
    # smallest, where host overhead matters most.
    shape = find_model_shape("llama3-8b")
    positions, query, key, head_size, cache = problem(device, 1, shape.heads, shape.kv_heads,
                                                      shape.head_size, torch.bfloat16)
    rope = ropekit.RotaryEmbedding(head_size, head_size, 4096, 500000.0, dtype=torch.bfloat16).to(device)

    calls = {
        "torch.ops.aten.add_ (1 element)": lambda: torch.ops.aten.add_(accumulator, one),
        "torch.ops.ropekit.rotary_embedding": lambda: torch.ops.ropekit.rotary_embedding(
            positions, query, key, head_size, cache, True),
        "torch.ops.ropekit.rotary_embedding_functional": lambda: (
            torch.ops.ropekit.rotary_embedding_functional(positions, query, key, head_size, cache,
                                                          True)),
        "ropekit.RotaryEmbedding forward": lambda: rope(positions, query, key),
        "ropekit.rotary_embedding (DLPack)": lambda: ropekit.rotary_embedding(
            positions, query, key, head_size, cache, True),
    }
    host = {name: per_call_microseconds(call, device, args.iterations, args.repeats)
            for name, call in calls.items()}
    gpu = {name: gpu_microseconds(call, device, args.iterations)
           for name, call in list(calls.items())[:2]}
    baseline = host["torch.ops.aten.add_ (1 element)"]

    print(f"# ropekit host overhead: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{device_name}, torch {torch.__version__}, ropekit {ropekit.__version__} "
          f"(commit {commit()}, torch kernels: {ropekit.torch_ops.KERNELS})")
    print(f"# problem: 1 token, {shape.heads}/{shape.kv_heads} heads, head_size {shape.head_size}, "
          "bfloat16 (Llama-3.1-8B decode)")
    print(f"# command: python3 bench/python/host_overhead.py --device {args.device} "
          f"--iterations {args.iterations} --repeats {args.repeats}")
    print()
    print("| call | host us/call | x add_ | GPU us/call |")
    print("|---|---:|---:|---:|")
    for name, microseconds in host.items():
        gpu_time = gpu.get(name)
        gpu_text = "" if gpu_time is None else f"{gpu_time:.2f}"
        print(f"| {name} | {microseconds:.2f} | {microseconds / baseline:.2f} | {gpu_text} |")
    ratio = host["torch.ops.ropekit.rotary_embedding"] / baseline
    verdict = "PASS" if ratio <= LIMIT else "FAIL"
    print()
    print(f"{verdict}: in-place op {ratio:.2f}x torch.ops.aten.add_ (limit {LIMIT}x)")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
