"""ropekit.RotaryEmbedding: a torch.nn.Module over torch.ops.ropekit.rotary_embedding."""
import torch

from . import torch_ops  # noqa: F401  (registers torch.ops.ropekit)
from ._ropekit import rope_frequencies
from .config import rope_config
from .functional import build_cos_sin_cache

_CACHE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class RotaryEmbedding(torch.nn.Module):
    """Rotary position embedding with its own cos/sin cache, vLLM's ``RotaryEmbedding`` contract.

    ``forward(positions, query, key)`` rotates query and key (key may be None) in place and returns
    them; with ``mrope_section`` (multimodal RoPE) positions are [3, T]. In place means inference:
    to train through RoPE use ``torch.ops.ropekit.rotary_embedding_functional`` (autograd).

    The cache follows the inputs: for each (device, dtype) it is built once on the CPU (angles in
    float64, rounded once to that dtype, never a cast of a rounded cache), moved to the device and
    kept; later calls only look it up. ``cos_sin_cache`` (a non-persistent buffer, in ``dtype``)
    moves with ``module.to(...)`` like any buffer (a new dtype is rebuilt, not cast) and is used
    as is whenever it matches the inputs.

    Under torch.compile(fullgraph=True) the lookup traces, but building a missing cache does not:
    run once eagerly on the target device and dtype first, or construct with that dtype and move
    the module to that device.

    LongRoPE (Phi-3 family) has two sets of frequencies: short while the sequence fits the original
    context (every position below ``original_max_position``), long beyond, as transformers decides
    per forward pass. ``forward(..., long_factors=None)`` decides from ``positions.max()``, which
    reads the positions on the host (a device sync, not capturable in a CUDA graph and a graph
    break under torch.compile); pass ``long_factors=True/False`` to decide yourself.
    """

    def __init__(self, head_size, rotary_dim, max_position, base=10000.0, is_neox=True,
                 dtype=torch.float32, *, inv_freq=None, attention_factor=1.0, mrope_section=None,
                 mrope_interleaved=False, long_inv_freq=None, long_attention_factor=None,
                 original_max_position=None):
        super().__init__()
        if dtype not in _CACHE_DTYPES:
            raise ValueError(f"dtype: expected one of {_CACHE_DTYPES}, got {dtype}")
        self.head_size = int(head_size)
        self.rotary_dim = int(rotary_dim)
        self.max_position = int(max_position)
        self.base = float(base)
        self.is_neox = bool(is_neox)
        self.attention_factor = float(attention_factor)
        self._inv_freq = None if inv_freq is None else [float(f) for f in inv_freq]
        # Multimodal RoPE: forward then takes positions [3, T].
        self.mrope_section = None if mrope_section is None else [int(s) for s in mrope_section]
        self.mrope_interleaved = bool(mrope_interleaved)
        # LongRoPE: the long frequencies, used once a position reaches original_max_position.
        if (long_inv_freq is None) != (original_max_position is None):
            raise ValueError("long_inv_freq and original_max_position: give both (LongRoPE) or "
                             "neither")
        self._long_inv_freq = None if long_inv_freq is None else [float(f) for f in long_inv_freq]
        self.long_attention_factor = float(attention_factor if long_attention_factor is None
                                           else long_attention_factor)
        self.original_max_position = None if original_max_position is None else int(
            original_max_position)
        self.register_buffer("cos_sin_cache", self._build_cache(dtype), persistent=False)
        self._caches = {}  # (device, dtype) -> cache, for inputs unlike the buffer

    @classmethod
    def from_hf_config(cls, config, *, dtype=torch.float32, max_position=None, sequence_length=0):
        """From a model's config (a dict, transformers PretrainedConfig, JSON text, config.json
        path or RopeConfig): head size, rotary dim, pairing style and the scaled frequencies of
        its rope type (linear, dynamic, yarn, llama3; multimodal sections too, for which forward
        takes positions [3, T]). ``max_position`` defaults to the config's
        max_position_embeddings; ``sequence_length`` picks dynamic-NTK frequencies (0: at load
        time, transformers' initial values; vLLM's: ropekit's dynamic_ntk_vllm_length)."""
        config = rope_config(config)
        if max_position is None:
            max_position = config.max_position_embeddings
        if max_position <= 0:
            raise ValueError("max_position: the config has no max_position_embeddings; pass one")
        longrope = {}
        if config.type == "longrope":
            # Short frequencies up to the original context, long ones past it (rope_frequencies
            # switches at sequence lengths above it).
            original = config.original_max_position_embeddings or config.max_position_embeddings
            long_inv_freq, long_attention_factor = rope_frequencies(config, original + 1)
            longrope = dict(long_inv_freq=long_inv_freq,
                            long_attention_factor=long_attention_factor,
                            original_max_position=original)
            sequence_length = min(int(sequence_length), original)
        inv_freq, attention_factor = rope_frequencies(config, int(sequence_length))
        return cls(config.head_size, config.rotary_dim, max_position, config.rope_theta,
                   config.is_neox, dtype, inv_freq=inv_freq, attention_factor=attention_factor,
                   mrope_section=config.mrope_section,
                   mrope_interleaved=config.mrope_interleaved, **longrope)

    def extra_repr(self):
        return (f"head_size={self.head_size}, rotary_dim={self.rotary_dim}, "
                f"max_position={self.max_position}, base={self.base}, is_neox={self.is_neox}")

    def _build_cache(self, dtype, long_factors=False):
        inv_freq, attention_factor = ((self._long_inv_freq, self.long_attention_factor)
                                      if long_factors else (self._inv_freq, self.attention_factor))
        return build_cos_sin_cache(self.max_position, self.rotary_dim, self.base,
                                   inv_freq=inv_freq, attention_factor=attention_factor,
                                   dtype=dtype)

    def cache_for(self, device, dtype, long_factors=False):
        """The cos/sin cache on ``device`` in ``dtype`` (LongRoPE: the long one if
        ``long_factors``), built on first request."""
        cache = self.cos_sin_cache
        if not long_factors and cache.device == device and cache.dtype == dtype:
            return cache
        key = (device, dtype, bool(long_factors))
        cache = self._caches.get(key)
        if cache is None:
            cache = self._build_cache(dtype, long_factors).to(device)
            self._caches[key] = cache
        return cache

    def _apply(self, fn, *args, **kwargs):
        # module.to(dtype) casts buffers; a cast of the rounded cache would round twice, so a
        # changed dtype is rebuilt from float64 instead.
        built_dtype = self.cos_sin_cache.dtype
        super()._apply(fn, *args, **kwargs)
        cache = self.cos_sin_cache
        if cache.dtype != built_dtype and cache.dtype in _CACHE_DTYPES:
            self.cos_sin_cache = self._build_cache(cache.dtype).to(cache.device)
        return self

    def forward(self, positions, query, key=None, *, long_factors=None):
        cache_dtype = query.dtype if query.dtype in _CACHE_DTYPES else torch.float32
        if self._long_inv_freq is None:
            if long_factors:
                raise ValueError("long_factors: this RotaryEmbedding has no LongRoPE frequencies")
            long_factors = False
        elif long_factors is None:  # transformers' rule: long once the sequence outgrows L0
            long_factors = positions.numel() > 0 and int(positions.max()) >= self.original_max_position
        cache = self.cache_for(query.device, cache_dtype, long_factors)
        if self.mrope_section is None:
            torch.ops.ropekit.rotary_embedding(positions, query, key, self.head_size, cache,
                                               self.is_neox)
        else:
            torch.ops.ropekit.mrope_rotary_embedding(positions, query, key, self.head_size, cache,
                                                     self.mrope_section, self.mrope_interleaved)
        return query, key
