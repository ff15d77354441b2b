"""ropekit: rotary position embedding (RoPE) for CPU and CUDA.

Functions here take any DLPack tensor (torch, numpy, cupy, ...). PyTorch users get
``torch.ops.ropekit.*`` and :class:`ropekit.RotaryEmbedding`: they are registered on first use of
``ropekit.torch_ops`` or ``ropekit.RotaryEmbedding``, and right away when torch was imported before
ropekit (importing torch costs about two seconds, which numpy users need not pay).
"""
import importlib as _importlib
import sys as _sys

from ._ropekit import (Error, RopeConfig, __version__, available_backends, backend_available,
                       default_inv_freq, dynamic_ntk_vllm_length, rope_frequencies)
from .config import rope_config
from .functional import (build_config_cos_sin_cache, build_cos_sin_cache, resolve_backend,
                         rotary_embedding)

__all__ = [
    "Error",
    "RopeConfig",
    "RotaryEmbedding",
    "__version__",
    "available_backends",
    "backend_available",
    "build_config_cos_sin_cache",
    "build_cos_sin_cache",
    "default_inv_freq",
    "dynamic_ntk_vllm_length",
    "resolve_backend",
    "rope_config",
    "rope_frequencies",
    "rotary_embedding",
    "torch_ops",
]


def __getattr__(name):
    # Lazy: these import torch.
    # (import_module, not `from . import`: that would call this __getattr__ again.)
    if name == "torch_ops":
        return _importlib.import_module(".torch_ops", __name__)
    if name == "RotaryEmbedding":
        return _importlib.import_module(".modules", __name__).RotaryEmbedding
    raise AttributeError(f"module 'ropekit' has no attribute '{name}'")


if "torch" in _sys.modules:
    _importlib.import_module(".torch_ops", __name__)  # registers torch.ops.ropekit
