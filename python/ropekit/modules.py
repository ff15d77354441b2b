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
    """

    def __init__(self, head_size, rotary_dim, max_position, base=10000.0, is_neox=True,
                 dtype=torch.float32, *, inv_freq=None, attention_factor=1.0, mrope_section=None,
                 mrope_interleaved=False):
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
        # LongRoPE needs a per-batch choice between two caches: refuse rather than rotate wrongly.
        if config.type == "longrope":
            raise NotImplementedError("from_hf_config: LongRoPE picks its short or long cache per "
                                      "batch, which RotaryEmbedding does not do yet")
        if max_position is None:
            max_position = config.max_position_embeddings
        if max_position <= 0:
            raise ValueError("max_position: the config has no max_position_embeddings; pass one")
        inv_freq, attention_factor = rope_frequencies(config, int(sequence_length))
        return cls(config.head_size, config.rotary_dim, max_position, config.rope_theta,
                   config.is_neox, dtype, inv_freq=inv_freq, attention_factor=attention_factor,
                   mrope_section=config.mrope_section,
                   mrope_interleaved=config.mrope_interleaved)

    def extra_repr(self):
        return (f"head_size={self.head_size}, rotary_dim={self.rotary_dim}, "
                f"max_position={self.max_position}, base={self.base}, is_neox={self.is_neox}")

    def _build_cache(self, dtype):
        return build_cos_sin_cache(self.max_position, self.rotary_dim, self.base,
                                   inv_freq=self._inv_freq,
                                   attention_factor=self.attention_factor, dtype=dtype)

    def cache_for(self, device, dtype):
        """The cos/sin cache on ``device`` in ``dtype``, built on first request."""
        cache = self.cos_sin_cache
        if cache.device == device and cache.dtype == dtype:
            return cache
        key = (device, dtype)
        cache = self._caches.get(key)
        if cache is None:
            cache = self._build_cache(dtype).to(device)
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

    def forward(self, positions, query, key=None):
        cache_dtype = query.dtype if query.dtype in _CACHE_DTYPES else torch.float32
        cache = self.cache_for(query.device, cache_dtype)
        if self.mrope_section is None:
            torch.ops.ropekit.rotary_embedding(positions, query, key, self.head_size, cache,
                                               self.is_neox)
        else:
            torch.ops.ropekit.mrope_rotary_embedding(positions, query, key, self.head_size, cache,
                                                     self.mrope_section, self.mrope_interleaved)
        return query, key
