"""Reproducer for a segfault seen on the H100: torch.ops.ropekit.mrope_rotary_embedding with 1-D
CUDA positions (expected: ValueError naming positions). Steps print as they go."""
import sys
import torch
import ropekit
import ropekit.torch_ops  # noqa: F401

def problem():
    g = torch.Generator().manual_seed(1)
    positions = torch.randint(0, 2048, (3, 4), generator=g).cuda()
    cache = torch.rand(2048, 16).to(torch.bfloat16).cuda()
    query = torch.randn(4, 64, generator=g).to(torch.bfloat16).cuda()
    key = torch.randn(4, 2, 16, generator=g).to(torch.bfloat16).cuda()
    return positions, query, key, cache

def bad_call(tag):
    positions, query, key, cache = problem()
    try:
        torch.ops.ropekit.mrope_rotary_embedding(positions[0], query, key, 16, cache, [2, 3, 3])
        print(tag, "no error!", flush=True)
    except ValueError as e:
        print(tag, "ValueError:", e, flush=True)

print("kernels", ropekit.torch_ops.KERNELS, flush=True)
bad_call("fresh")
positions, query, key, cache = problem()
torch.ops.ropekit.mrope_rotary_embedding(positions, query, key, 16, cache, [2, 3, 3])
torch.cuda.synchronize()
print("good call ok", flush=True)
bad_call("after good call")
torch.library.opcheck(torch.ops.ropekit.mrope_rotary_embedding.default,
                      (positions, query, key, 16, cache, [2, 3, 3], False))
print("opcheck ok", flush=True)
bad_call("after opcheck")
