#!/usr/bin/env python3
"""ropekit vs composed PyTorch ops (eager and torch.compile), same shapes, one run, one GPU.

ropekit is called through its C API (libropekit.so, via ctypes) on the torch tensors' own
pointers, strides and current stream. Every contender is timed as CUDA-graph replays of several
calls that rotate over buffer sets larger than L2, like bench/gpu/gpu_bench.cu.

Usage: python3 bench/gpu/torch_bench.py --library build/src/libropekit.so [--tokens 1 16 ...]
"""
import argparse
import ctypes
import math
import statistics
import sys

from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from model_shapes import find_model_shape  # noqa: E402  (the one table, tools/common)

# name, heads, kv heads, head size, rotary dim, neox: the plain-RoPE shapes of gpu_bench.
SHAPES = [tuple(find_model_shape(name))[:6]
          for name in ("llama3-8b", "glm4-9b", "llama3-70b-tp8", "deepseek-v3-rope-tp8", "neox-20b")]
MAX_POSITION = 131072


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


_DL_CODES = {  # torch dtype -> (DLPack type code, bits)
    torch.float32: (2, 32),
    torch.float16: (2, 16),
    torch.bfloat16: (4, 16),
    torch.int32: (0, 32),
    torch.int64: (0, 64),
}
KDL_CUDA = 2


class DLView:
    """A DLTensor over a torch tensor; keeps the shape/stride arrays alive."""

    def __init__(self, tensor):
        code, bits = _DL_CODES[tensor.dtype]
        self.shape = (ctypes.c_int64 * tensor.dim())(*tensor.shape)
        self.strides = (ctypes.c_int64 * tensor.dim())(*tensor.stride())
        self.tensor = DLTensor(
            tensor.data_ptr(), DLDevice(KDL_CUDA, tensor.device.index or 0), tensor.dim(),
            DLDataType(code, bits, 1), self.shape, self.strides, 0)

    def pointer(self):
        return ctypes.byref(self.tensor)


class Ropekit:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.ropekit_rotary_embedding.restype = ctypes.c_int
        self.lib.ropekit_rotary_embedding.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
            ctypes.c_int, ctypes.c_void_p]
        self.lib.ropekit_last_error.restype = ctypes.c_char_p

    def bind(self, positions, query, key, cache, head_size, is_neox):
        """Returns a no-argument callable: the DLTensors are built once, like a framework op would
        cache them, so the timing is the library call, not Python struct building."""
        views = [DLView(t) for t in (positions, query, key, cache)]
        args = (views[0].pointer(), views[1].pointer(), views[2].pointer(), head_size,
                views[3].pointer(), int(is_neox))
        fn = self.lib.ropekit_rotary_embedding

        def call():
            status = fn(*args, ctypes.c_void_p(torch.cuda.current_stream().cuda_stream))
            if status != 0:
                raise RuntimeError(self.lib.ropekit_last_error().decode())
        call.views = views
        return call


def rope_torch(positions, query, key, cache, head_size, rotary_dim, is_neox):
    """The composed-ops formulation (vLLM's forward_native), in place on query and key."""
    cos_sin = cache.index_select(0, positions)
    cos, sin = cos_sin.chunk(2, dim=-1)
    tokens = positions.shape[0]
    for x in (query, key):
        heads = x.view(tokens, -1, head_size)
        rot = heads[..., :rotary_dim].float()
        c, s = cos[:, None, :], sin[:, None, :]
        if is_neox:
            x1, x2 = rot.chunk(2, dim=-1)
            out = torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1)
        else:
            x1, x2 = rot[..., 0::2], rot[..., 1::2]
            out = torch.stack((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1).flatten(-2)
        heads[..., :rotary_dim].copy_(out.to(x.dtype))


def graph_us_per_call(calls, stream):
    """Median microseconds per call over replays of one graph holding every call once."""
    for call in calls:  # warm-up outside capture (compilation, lazy init)
        call()
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream):
        for call in calls:
            call()
    for _ in range(3):
        graph.replay()
    times = []
    for _ in range(15):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1000 / len(calls))
    return statistics.median(times)


# ropekit vs the composed ops on the same bf16 inputs in [-2, 2): each rounds a float32 result
# of magnitude below 2 * sqrt(2) to bf16, whose spacing there is 2^-6; two spacings allowed.
MAX_DIFF = 2 * 2.0**-6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", required=True, help="path to libropekit.so")
    parser.add_argument("--tokens", type=int, nargs="+", default=[1, 16, 1024, 16384])
    args = parser.parse_args()
    ropekit = Ropekit(args.library)
    device = torch.cuda.get_device_properties(0)
    l2 = device.L2_cache_size
    print(f"device: {device.name}, torch {torch.__version__}, L2 {l2 >> 20} MB")
    # One specialization per (shape, T): lift dynamo's recompile limit, which would otherwise fall
    # back to eager silently after 8 of them.
    torch._dynamo.config.cache_size_limit = 256
    if hasattr(torch._dynamo.config, "recompile_limit"):
        torch._dynamo.config.recompile_limit = 256
    # Default settings: specialized on the first shape, automatically dynamic after a recompile
    # (fewer compilations than one per shape and token count).
    compiled = torch.compile(rope_torch)
    stream = torch.cuda.Stream()
    print(f"{'shape':22} {'T':>6} {'ropekit_us':>10} {'eager_us':>10} {'compile_us':>10} "
          f"{'eager/rk':>8} {'compile/rk':>10} {'max_diff':>9}")
    torch.manual_seed(0)
    mismatches = 0
    for name, heads, kv_heads, head_size, rotary_dim, is_neox in SHAPES:
        cache = torch.rand(MAX_POSITION, rotary_dim, device="cuda") * 2 - 1
        for tokens in args.tokens:
            set_bytes = tokens * (heads + kv_heads) * head_size * 2 + tokens * 8
            sets = max(1, min(32, math.ceil(3 * l2 / set_bytes)))
            data = []
            for _ in range(sets):
                positions = torch.randint(0, MAX_POSITION, (tokens,), device="cuda")
                q = torch.rand(tokens, heads * head_size, device="cuda", dtype=torch.bfloat16) * 4 - 2
                k = torch.rand(tokens, kv_heads * head_size, device="cuda", dtype=torch.bfloat16) * 4 - 2
                data.append((positions, q, k))
            calls_per_graph = max(sets, 16) // sets * sets
            picks = [data[i % sets] for i in range(calls_per_graph)]
            # The inputs were filled on the default stream: the side stream waits for them (without
            # this, the clones below could copy a half-filled tensor: a max_diff of 3.9 once).
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                # Same answer first (one call each on copies of set 0).
                p, q, k = data[0]
                q1, k1, q2, k2 = q.clone(), k.clone(), q.clone(), k.clone()
                ropekit.bind(p, q1, k1, cache, head_size, is_neox)()
                rope_torch(p, q2, k2, cache, head_size, rotary_dim, is_neox)
                torch.cuda.synchronize()
                diff = max((q1.float() - q2.float()).abs().max().item(),
                           (k1.float() - k2.float()).abs().max().item())
                bound = [ropekit.bind(p, q, k, cache, head_size, is_neox) for p, q, k in picks]
                rk = graph_us_per_call(bound, stream)
                eager = graph_us_per_call(
                    [lambda p=p, q=q, k=k: rope_torch(p, q, k, cache, head_size, rotary_dim, is_neox)
                     for p, q, k in picks], stream)
                comp = graph_us_per_call(
                    [lambda p=p, q=q, k=k: compiled(p, q, k, cache, head_size, rotary_dim, is_neox)
                     for p, q, k in picks], stream)
            mismatch = diff > MAX_DIFF
            mismatches += mismatch
            print(f"{name:22} {tokens:6d} {rk:10.2f} {eager:10.2f} {comp:10.2f} "
                  f"{eager / rk:7.1f}x {comp / rk:9.1f}x {diff:9.2g}"
                  f"{'  [MISMATCH]' if mismatch else ''}", flush=True)
    if mismatches:
        print(f"FAIL: {mismatches} case(s) differ from the composed ops by more than {MAX_DIFF}")
        sys.exit(1)


if __name__ == "__main__":
    main()
