"""The library's functions over any DLPack tensor (torch, numpy, cupy, ...).

These only convert arguments: validation and its messages come from the C++ library, raised as
``ropekit.Error`` (a ``ValueError``).
"""
import sys

from . import _ropekit

_DLPACK_CUDA = 2  # DLDeviceType kDLCUDA


def rotary_embedding(positions, query, key, head_size, cos_sin_cache, is_neox, *,
                     query_out=None, key_out=None, inverse=False, mrope_section=None,
                     mrope_interleaved=False, backend="auto", stream=None, rope_dim_offset=0):
    """Rotates ``query`` and ``key`` (may be None) by the angles of ``positions``.

    In place unless ``query_out`` (and ``key_out`` when there is a key) are given; ``inverse``
    rotates by -theta (the backward pass); ``rope_dim_offset`` (in place only) starts the rotary
    part that many elements into each head. ``mrope_section`` (three ints summing to
    rotary_dim / 2) selects multimodal RoPE: positions are then [3, T] (temporal, height, width),
    in contiguous sections (Qwen2-VL) or, with ``mrope_interleaved``, interleaved (Qwen3-VL).
    ``backend``: "auto" (by device; the ROPEKIT_BACKEND environment variable forces one),
    "reference", "cpu" or "cuda". ``stream``: a cudaStream_t (int), a torch/cupy stream object,
    or None for the current stream of the query's framework. Shapes, dtypes and layouts are
    those of vLLM's ``rotary_embedding``; see ropekit/rotary.hpp.
    """
    _ropekit.rotary_embedding(positions, query, key, head_size, cos_sin_cache, bool(is_neox),
                              query_out, key_out, bool(inverse), _sections(mrope_section),
                              bool(mrope_interleaved), backend, _stream_handle(stream, query),
                              int(rope_dim_offset))


def resolve_backend(positions, query, key, head_size, cos_sin_cache, is_neox, *,
                    query_out=None, key_out=None, inverse=False, mrope_section=None,
                    mrope_interleaved=False, backend="auto"):
    """The backend ``rotary_embedding`` would run with these arguments, e.g. "cpu"."""
    return _ropekit.resolve_backend(positions, query, key, head_size, cos_sin_cache,
                                    bool(is_neox), query_out, key_out, bool(inverse),
                                    _sections(mrope_section), bool(mrope_interleaved), backend)


def _sections(mrope_section):
    if mrope_section is None:
        return None
    sections = tuple(int(size) for size in mrope_section)
    if len(sections) != 3:
        raise ValueError(f"mrope_section: expected 3 sizes (temporal, height, width), got "
                         f"{len(sections)}")
    return sections


def build_cos_sin_cache(max_position, rotary_dim=None, rope_theta=10000.0, *, inv_freq=None,
                        attention_factor=1.0, dtype="float32", out=None):
    """The cos/sin cache [max_position, rotary_dim]: row p = cos(p * inv_freq), sin(p * inv_freq).

    Angles in float64, rounded once to the dtype. ``inv_freq`` defaults to
    ``default_inv_freq(rope_theta, rotary_dim)``. Writes into ``out`` (any CPU DLPack tensor of
    float32, float64, float16 or bfloat16) when given, else returns a new array: a torch tensor if
    ``dtype`` is a ``torch.dtype`` (the only way to get bfloat16 without ``out``), else numpy.
    """
    if inv_freq is None:
        if rotary_dim is None:
            raise ValueError("rotary_dim: expected an even int when inv_freq is not given, got None")
        inv_freq = _ropekit.default_inv_freq(float(rope_theta), int(rotary_dim))
    inv_freq = [float(f) for f in inv_freq]
    if out is None:
        out = _new_cache(max_position, 2 * len(inv_freq), dtype)
    _ropekit.build_cos_sin_cache(inv_freq, float(attention_factor), out)
    return out


def build_config_cos_sin_cache(config, max_position=None, *, sequence_length=0,
                               dtype="float32", out=None):
    """The cos/sin cache of a model's RoPE configuration (see ``ropekit.rope_config`` for what
    ``config`` may be): inv_freq and attention factor of its scaling type, float64 angles,
    rounded once. ``max_position`` defaults to the config's max_position_embeddings;
    ``sequence_length`` selects dynamic-NTK / LongRoPE frequencies (0: at load time)."""
    from .config import rope_config

    config = rope_config(config)
    if out is None:
        if max_position is None:
            max_position = config.max_position_embeddings
        if max_position <= 0:
            raise ValueError("max_position: the config has no max_position_embeddings; pass one")
        out = _new_cache(max_position, config.rotary_dim, dtype)
    _ropekit.build_config_cos_sin_cache(config, out, int(sequence_length))
    return out


def _new_cache(max_position, rotary_dim, dtype):
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(dtype, torch.dtype):
        return torch.empty((max_position, rotary_dim), dtype=dtype)
    import numpy

    try:
        numpy_dtype = numpy.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype: expected a numpy dtype (float32, float64, float16) or a "
                         f"torch.dtype, got {dtype!r}; for bfloat16 pass torch.bfloat16 or out=")
    return numpy.empty((max_position, rotary_dim), dtype=numpy_dtype)


def _stream_handle(stream, query):
    """The cudaStream_t to launch on, as an int (0: the default stream, or a CPU tensor)."""
    if stream is None:
        return _current_stream(query)
    if isinstance(stream, int):
        return stream
    for attribute in ("cuda_stream", "ptr"):  # torch.cuda.Stream, cupy.cuda.Stream
        handle = getattr(stream, attribute, None)
        if isinstance(handle, int):
            return handle
    raise TypeError(f"stream: expected None, an int (cudaStream_t) or a torch/cupy stream, "
                    f"got {type(stream).__name__}")


def _current_stream(query):
    dlpack_device = getattr(query, "__dlpack_device__", None)
    if dlpack_device is None or dlpack_device()[0] != _DLPACK_CUDA:
        return 0
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(query, torch.Tensor):
        return torch.cuda.current_stream(query.device).cuda_stream
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(query, cupy.ndarray):
        with query.device:
            return cupy.cuda.get_current_stream().ptr
    return 0
