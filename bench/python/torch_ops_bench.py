#!/usr/bin/env python3
"""torch.ops.ropekit.rotary_embedding vs the composed-PyTorch-ops formulation (eager and
torch.compile), end to end as torch ops, at the shapes of the CUDA issue, in one run on one GPU.

Two timings per contender:
- eager us/call: a Python loop of back-to-back calls, synchronized at the end: what an engine
  running without CUDA graphs pays (host dispatch or GPU time, whichever is larger);
- graph us/call: CUDA-graph replays of the same calls (GPU time only).

The shapes, the composed-ops formulation and the graph timing are bench/gpu/torch_bench.py's (the
CUDA engineer's C-API benchmark), imported so that both benchmarks time the same thing.

    python3 bench/python/torch_ops_bench.py [--tokens 1 16 1024 16384]
"""
import argparse
import datetime
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch

import ropekit
import ropekit.torch_ops

_spec = importlib.util.spec_from_file_location(
    "torch_bench", Path(__file__).resolve().parents[1] / "gpu" / "torch_bench.py")
torch_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(torch_bench)


def eager_us_per_call(call, iterations=200, repeats=5):
    for _ in range(20):
        call()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            call()
        torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) / iterations * 1e6)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1, 16, 1024, 16384])
    args = parser.parse_args()
    if not torch.cuda.is_available() or "cuda" not in ropekit.available_backends():
        print("SKIP: needs a CUDA device and a CUDA build of ropekit "
              f"(available backends: {ropekit.available_backends()})")
        return 0
    torch._dynamo.config.cache_size_limit = 256
    if hasattr(torch._dynamo.config, "recompile_limit"):
        torch._dynamo.config.recompile_limit = 256
    compiled = torch.compile(torch_bench.rope_torch, dynamic=False)
    stream = torch.cuda.Stream()
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{torch.cuda.get_device_name()}, torch {torch.__version__}, ropekit "
          f"{ropekit.__version__} (torch kernels: {ropekit.torch_ops.KERNELS}); bf16 q/k, "
          f"fp32 cache of {torch_bench.MAX_POSITION} rows, random positions, in place")
    print(f"{'shape':22} {'T':>6} | {'eager us/call: ropekit':>22} {'native':>8} {'compiled':>8} | "
          f"{'graph us/call: ropekit':>22} {'native':>8} {'compiled':>8} | {'max_diff':>8}")
    torch.manual_seed(0)
    for name, heads, kv_heads, head_size, rotary_dim, is_neox in torch_bench.SHAPES:
        cache = torch.rand(torch_bench.MAX_POSITION, rotary_dim, device="cuda") * 2 - 1
        for tokens in args.tokens:
            positions = torch.randint(0, torch_bench.MAX_POSITION, (tokens,), device="cuda")
            query = torch.rand(tokens, heads * head_size, device="cuda", dtype=torch.bfloat16) * 4 - 2
            key = torch.rand(tokens, kv_heads * head_size, device="cuda", dtype=torch.bfloat16) * 4 - 2
            contenders = {
                "ropekit": lambda: torch.ops.ropekit.rotary_embedding(
                    positions, query, key, head_size, cache, is_neox),
                "native": lambda: torch_bench.rope_torch(
                    positions, query, key, cache, head_size, rotary_dim, is_neox),
                "compiled": lambda: compiled(
                    positions, query, key, cache, head_size, rotary_dim, is_neox),
            }
            # The inputs were made on the default stream: the side stream must wait for them.
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                q1, k1, q2, k2 = query.clone(), key.clone(), query.clone(), key.clone()
                torch.ops.ropekit.rotary_embedding(positions, q1, k1, head_size, cache, is_neox)
                torch_bench.rope_torch(positions, q2, k2, cache, head_size, rotary_dim, is_neox)
                torch.cuda.synchronize()
                difference = max((q1.float() - q2.float()).abs().max().item(),
                                 (k1.float() - k2.float()).abs().max().item())
                eager = {n: eager_us_per_call(call) for n, call in contenders.items()}
                graph = {n: torch_bench.graph_us_per_call([call] * 16, stream)
                         for n, call in contenders.items()}
            print(f"{name:22} {tokens:6d} | {eager['ropekit']:22.2f} {eager['native']:8.2f} "
                  f"{eager['compiled']:8.2f} | {graph['ropekit']:22.2f} {graph['native']:8.2f} "
                  f"{graph['compiled']:8.2f} | {difference:8.2g}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
