"""Shared helpers for the Python tests: fresh random data, an independent float64 oracle written from
the definition (docs: /work/shared/ROPE_SPEC.md section 1), and tolerances derived from the dtype.

The oracle uses numpy float64 only: it shares no code with the library.
"""
import os

import numpy as np
import pytest

# Mantissa bits and the smallest positive (subnormal) value of each storage dtype.
_FORMATS = {
    "float32": (23, 2.0 ** -149),
    "float16": (10, 2.0 ** -24),
    "bfloat16": (7, 2.0 ** -133),
}
_FLOAT32_EPSILON_HALF = 2.0 ** -24


@pytest.fixture
def rng():
    """A generator seeded from fresh entropy; the seed is printed so a failure can be replayed."""
    seed = int.from_bytes(os.urandom(8), "little")
    print(f"random seed: {seed}")
    return np.random.default_rng(seed)


def rotate_oracle(x, positions, head_size, cache, is_neox, inverse=False, mrope_section=None,
                  mrope_interleaved=False):
    """The rotation in float64. x: [*tokens, num_heads * head_size] or [*tokens, num_heads,
    head_size]; positions: [*tokens] ([3, T] with mrope_section); cache: [max_position,
    rotary_dim] (its values as stored).

    Returns (expected, magnitude): magnitude is |a*c| + |b*s| for rotated elements (the size of
    the products, which bounds float32 arithmetic error) and 0 for pass-through elements.
    """
    x = np.asarray(x, dtype=np.float64)
    positions = np.asarray(positions)
    cache = np.asarray(cache, dtype=np.float64)
    half = cache.shape[1] // 2
    if mrope_section is None:
        token_shape = positions.shape
        rows = cache[positions]                   # [*tokens, rotary_dim]
        cos, sin = rows[..., :half], rows[..., half:]
    else:
        token_shape = positions.shape[1:]
        streams = mrope_streams(half, mrope_section, mrope_interleaved)
        frequency = np.arange(half)
        rows = positions[streams, :].T            # [T, half]: the position each frequency uses
        cos, sin = cache[rows, frequency], cache[rows, half + frequency]
    cos, sin = cos[..., None, :], sin[..., None, :]  # broadcast over heads
    if inverse:
        sin = -sin
    heads = x.reshape(*token_shape, -1, head_size)
    first = np.arange(half) if is_neox else 2 * np.arange(half)
    second = first + half if is_neox else first + 1
    a, b = heads[..., first], heads[..., second]
    expected = heads.copy()
    expected[..., first] = a * cos - b * sin
    expected[..., second] = b * cos + a * sin
    magnitude = np.zeros_like(heads)
    magnitude[..., first] = np.abs(a * cos) + np.abs(b * sin)
    magnitude[..., second] = np.abs(b * cos) + np.abs(a * sin)
    return expected.reshape(x.shape), magnitude.reshape(x.shape)


def mrope_streams(half, mrope_section, interleaved):
    """Which position stream (0 temporal, 1 height, 2 width) frequency i uses (ROPE_SPEC.md 4)."""
    t, h, w = mrope_section
    i = np.arange(half)
    if not interleaved:  # Qwen2-VL: contiguous sections
        return np.where(i < t, 0, np.where(i < t + h, 1, 2))
    streams = np.zeros(half, dtype=np.int64)  # Qwen3-VL: t, h, w, t, h, w, ... then t
    streams[(i % 3 == 1) & (i < 3 * h)] = 1
    streams[(i % 3 == 2) & (i < 3 * w)] = 2
    return streams


def tolerance(dtype_name, expected, magnitude):
    """Per element: one rounding to the dtype (an ulp of |expected|: the float32 result may sit on
    the other side of a rounding boundary) plus float32 error on the two products and their sum
    (a few half-ulps of float32 relative to `magnitude`). Pass-through elements (magnitude 0 and
    not rotated) get 0: they must be copied exactly."""
    mantissa_bits, smallest = _FORMATS[dtype_name]
    size = np.abs(expected)
    _, exponent = np.frexp(np.where(size > 0, size, 1.0))  # size = f * 2^exponent, f in [0.5, 1)
    ulp = np.where(size > 0, np.ldexp(1.0, exponent - 1 - mantissa_bits), smallest)
    ulp = np.maximum(ulp, smallest)
    return np.where(magnitude > 0, ulp + 8 * _FLOAT32_EPSILON_HALF * magnitude, 0.0)


def assert_matches_oracle(got, expected, magnitude, dtype_name, what="output"):
    """Every element within its tolerance; pass-through elements bit-exact; NaN (poison) fails."""
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    error = np.abs(got - expected)
    limit = tolerance(dtype_name, expected, magnitude)
    bad = ~(error <= limit)  # NaN counts as bad
    if bad.any():
        index = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} elements off (dtype {dtype_name}); first at "
            f"{index}: got {got[index]!r}, expected {expected[index]!r}, tolerance {limit[index]!r}")


def random_positions(rng, shape, max_position, dtype=np.int64):
    return rng.integers(0, max_position, size=shape).astype(dtype)


def random_values(rng, shape, dtype=np.float32):
    # Mixed magnitudes and signs, never zeros-only: exercises the relative tolerance.
    values = rng.standard_normal(shape) * np.exp2(rng.integers(-4, 5, size=shape))
    return values.astype(dtype)
