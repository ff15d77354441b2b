"""torch.ops.ropekit: the RoPE operators as PyTorch custom ops.

- ``rotary_embedding(positions, query, key, head_size, cos_sin_cache, is_neox, rope_dim_offset=0,
  inverse=False) -> ()`` rotates in place, with the arguments of vLLM's
  ``torch.ops._C.rotary_embedding`` (``key`` may be None; the rotary part starts
  ``rope_dim_offset`` elements into each head; ``inverse`` rotates by -theta), so an engine can
  swap it in.
- ``rotary_embedding_functional(..., is_neox, inverse=False) -> (query_out, key_out)`` is out of
  place and differentiable: the rotation is orthogonal, so its backward is the inverse rotation of
  the incoming gradients (the same op with ``not inverse``).
- ``mrope_rotary_embedding(positions, query, key, head_size, cos_sin_cache, mrope_section,
  mrope_interleaved=False) -> ()``: multimodal RoPE (Qwen2-VL, Qwen3-VL) in place, positions
  [3, T], NeoX pairs.

Schemas, fake (meta) implementations and autograd are defined here. The CPU/CUDA kernels come from
``_torch_kernels.so`` (C++, one dispatcher hop: the fast path) when it was built against this torch
version, else from Python kernels over the nanobind extension (same results, ~10x the host
overhead). ``ROPEKIT_TORCH_KERNELS=python`` forces the Python kernels. ``KERNELS`` tells which.
"""
import os
import warnings
from pathlib import Path

import torch

from . import _build_info, _ropekit

_LIBRARY = torch.library.Library("ropekit", "DEF")  # must stay alive: it owns the registrations
_LIBRARY.define(
    "rotary_embedding(Tensor positions, Tensor(a!) query, Tensor(b!)? key, int head_size, "
    "Tensor cos_sin_cache, bool is_neox, int rope_dim_offset=0, bool inverse=False) -> ()")
_LIBRARY.define(
    "rotary_embedding_functional(Tensor positions, Tensor query, Tensor? key, int head_size, "
    "Tensor cos_sin_cache, bool is_neox, bool inverse=False) -> (Tensor, Tensor?)")
_LIBRARY.define(
    "mrope_rotary_embedding(Tensor positions, Tensor(a!) query, Tensor(b!)? key, int head_size, "
    "Tensor cos_sin_cache, int[] mrope_section, bool mrope_interleaved=False) -> ()")

_KERNELS_PATH = Path(__file__).with_name("_torch_kernels.so")


def rotary_embedding(positions, query, key, head_size, cos_sin_cache, is_neox, rope_dim_offset=0,
                     inverse=False):
    """In place; see the module docstring."""
    torch.ops.ropekit.rotary_embedding(positions, query, key, head_size, cos_sin_cache, is_neox,
                                       rope_dim_offset, inverse)


def rotary_embedding_functional(positions, query, key, head_size, cos_sin_cache, is_neox,
                                inverse=False):
    """Out of place and differentiable; returns (query_out, key_out or None)."""
    return torch.ops.ropekit.rotary_embedding_functional(
        positions, query, key, head_size, cos_sin_cache, is_neox, inverse)


def mrope_rotary_embedding(positions, query, key, head_size, cos_sin_cache, mrope_section,
                           mrope_interleaved=False):
    """Multimodal RoPE in place; positions [3, T]; see the module docstring."""
    torch.ops.ropekit.mrope_rotary_embedding(positions, query, key, head_size, cos_sin_cache,
                                             list(mrope_section), mrope_interleaved)


# Kernels ---------------------------------------------------------------------------------------

def _load_cpp_kernels():
    """Loads _torch_kernels.so if it exists and matches this torch; returns whether it did."""
    choice = os.environ.get("ROPEKIT_TORCH_KERNELS", "auto") or "auto"
    if choice not in ("auto", "python"):
        raise ValueError(f"ROPEKIT_TORCH_KERNELS: expected auto or python, got '{choice}'")
    if choice == "python":
        return False
    built_for = _build_info.TORCH_KERNELS_TORCH_VERSION
    if not built_for or not _KERNELS_PATH.exists():
        return False
    if built_for != torch.__version__:
        # torch has no stable C++ ABI between releases: loading could crash, not just fail.
        warnings.warn(
            f"ropekit: _torch_kernels.so was built for torch {built_for}, not {torch.__version__}; "
            "using the slower Python kernels. Reinstall ropekit with `pip install "
            "--no-build-isolation .` in this environment for the C++ kernels.")
        return False
    try:
        torch.ops.load_library(str(_KERNELS_PATH))
    except OSError as error:  # e.g. a torch build with other symbols under the same version
        warnings.warn(f"ropekit: cannot load {_KERNELS_PATH.name} ({error}); using the slower "
                      "Python kernels")
        return False
    return True


def _current_stream(tensor):
    return torch.cuda.current_stream(tensor.device).cuda_stream if tensor.is_cuda else 0


def _detached(tensor):
    # torch refuses to export tensors that require grad through DLPack; kernels run below autograd.
    return None if tensor is None else tensor.detach()


def _rotary_embedding_python(positions, query, key, head_size, cos_sin_cache, is_neox,
                             rope_dim_offset=0, inverse=False):
    _ropekit.rotary_embedding(_detached(positions), _detached(query), _detached(key), head_size,
                              _detached(cos_sin_cache), is_neox, None, None, inverse, None, False,
                              "auto", _current_stream(query), rope_dim_offset)


def _mrope_rotary_embedding_python(positions, query, key, head_size, cos_sin_cache,
                                   mrope_section, mrope_interleaved=False):
    if len(mrope_section) != 3:
        raise ValueError(f"mrope_section: expected 3 sizes (temporal, height, width), got "
                         f"{len(mrope_section)}")
    _ropekit.rotary_embedding(_detached(positions), _detached(query), _detached(key), head_size,
                              _detached(cos_sin_cache), True, None, None, False,
                              tuple(mrope_section), mrope_interleaved, "auto",
                              _current_stream(query))


def _rotary_embedding_functional_python(positions, query, key, head_size, cos_sin_cache, is_neox,
                                        inverse=False):
    query_out = torch.empty_like(query)
    key_out = None if key is None else torch.empty_like(key)
    _ropekit.rotary_embedding(_detached(positions), _detached(query), _detached(key), head_size,
                              _detached(cos_sin_cache), is_neox, query_out, key_out, inverse,
                              None, False, "auto", _current_stream(query))
    return query_out, key_out


def _register_python_kernels():
    # CUDA too: without CUDA support in ropekit the library's error then names what is missing.
    for dispatch_key in ("CPU", "CUDA"):
        _LIBRARY.impl("rotary_embedding", _rotary_embedding_python, dispatch_key)
        _LIBRARY.impl("rotary_embedding_functional", _rotary_embedding_functional_python,
                      dispatch_key)
        _LIBRARY.impl("mrope_rotary_embedding", _mrope_rotary_embedding_python, dispatch_key)


if _load_cpp_kernels():
    KERNELS = "c++"
else:
    _register_python_kernels()
    KERNELS = "python"


# Fake (meta) implementations: shapes, dtypes and strides for tracing and torch.compile ----------

@torch.library.register_fake("ropekit::rotary_embedding", lib=_LIBRARY)
def _rotary_embedding_fake(positions, query, key, head_size, cos_sin_cache, is_neox,
                           rope_dim_offset=0, inverse=False):
    return None


@torch.library.register_fake("ropekit::mrope_rotary_embedding", lib=_LIBRARY)
def _mrope_rotary_embedding_fake(positions, query, key, head_size, cos_sin_cache, mrope_section,
                                 mrope_interleaved=False):
    return None


@torch.library.register_fake("ropekit::rotary_embedding_functional", lib=_LIBRARY)
def _rotary_embedding_functional_fake(positions, query, key, head_size, cos_sin_cache, is_neox,
                                      inverse=False):
    # empty_like, as the kernels allocate: same strides for dense inputs, contiguous otherwise.
    return torch.empty_like(query), None if key is None else torch.empty_like(key)


# Autograd of the functional op -----------------------------------------------------------------

def _setup_context(ctx, inputs, output):
    positions, query, key, head_size, cos_sin_cache, is_neox, inverse = inputs
    ctx.save_for_backward(positions, cos_sin_cache)
    ctx.head_size = head_size
    ctx.is_neox = is_neox
    ctx.inverse = inverse


def _backward(ctx, grad_query, grad_key):
    positions, cos_sin_cache = ctx.saved_tensors
    # Incoming gradients can have any layout (e.g. stride 0 from .sum()); the kernels need a
    # contiguous last dimension.
    grad_query = grad_query.contiguous()
    grad_key = None if grad_key is None else grad_key.contiguous()
    grad_query_in, grad_key_in = torch.ops.ropekit.rotary_embedding_functional(
        positions, grad_query, grad_key, ctx.head_size, cos_sin_cache, ctx.is_neox,
        not ctx.inverse)
    # No gradient for positions, the cache (a table of constants here) or the plain arguments.
    return None, grad_query_in, grad_key_in, None, None, None, None


torch.library.register_autograd("ropekit::rotary_embedding_functional", _backward,
                                setup_context=_setup_context, lib=_LIBRARY)
