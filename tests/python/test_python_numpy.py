"""ropekit's DLPack functions with numpy arrays, checked against the float64 oracle in conftest."""
import itertools
import re
from pathlib import Path

import numpy as np
import pytest

import ropekit
from conftest import (assert_matches_oracle, random_positions, random_values, rotate_oracle,
                      tolerance)

REPO = Path(__file__).resolve().parents[2]
DTYPES = {"float32": np.float32, "float16": np.float16}


def numpy_cache(max_position, rotary_dim, theta, dtype):
    """The cos/sin cache computed here in float64 (not by the library), rounded once to dtype."""
    inv_freq = 1.0 / theta ** (np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim)
    angles = np.arange(max_position, dtype=np.float64)[:, None] * inv_freq[None, :]
    return np.concatenate([np.cos(angles), np.sin(angles)], axis=1).astype(dtype)


CASES = list(itertools.product(
    ["float32", "float16"],   # dtype
    [True, False],            # is_neox
    [False, True],            # out of place
    [False, True],            # inverse
))


@pytest.mark.parametrize("dtype_name,is_neox,out_of_place,inverse", CASES)
def test_rotation_matches_oracle(rng, dtype_name, is_neox, out_of_place, inverse):
    dtype = DTYPES[dtype_name]
    head_size = int(rng.choice([64, 80, 128]))
    rotary_dim = int(rng.choice([head_size, head_size // 2]))  # full and partial rotation
    num_kv_heads = int(rng.integers(1, 3))
    num_heads = num_kv_heads * int(rng.integers(1, 4))   # GQA
    tokens = int(rng.integers(1, 20))
    max_position = 512
    positions = random_positions(rng, (tokens,), max_position,
                                 rng.choice([np.int32, np.int64]))
    cache = numpy_cache(max_position, rotary_dim, 10000.0, dtype)
    query = random_values(rng, (tokens, num_heads * head_size), dtype)
    key = random_values(rng, (tokens, num_kv_heads, head_size), dtype)  # 3-D form for the key
    query_in, key_in = query.copy(), key.copy()
    query_out = key_out = None
    if out_of_place:
        query_out = np.full_like(query, np.nan)  # poisoned: every element must be written
        key_out = np.full_like(key, np.nan)

    ropekit.rotary_embedding(positions, query, key, head_size, cache, is_neox,
                             query_out=query_out, key_out=key_out, inverse=inverse)

    expected_q, magnitude_q = rotate_oracle(query_in, positions, head_size, cache, is_neox, inverse)
    expected_k, magnitude_k = rotate_oracle(key_in, positions, head_size, cache, is_neox, inverse)
    got_q, got_k = (query_out, key_out) if out_of_place else (query, key)
    assert_matches_oracle(got_q, expected_q, magnitude_q, dtype_name, "query")
    assert_matches_oracle(got_k, expected_k, magnitude_k, dtype_name, "key")
    if out_of_place:  # inputs untouched
        np.testing.assert_array_equal(query, query_in)
        np.testing.assert_array_equal(key, key_in)


def test_fused_qkv_views_rotate_only_their_parts(rng):
    """q and k as strided column views of one [T, (nh + 2 nkv) hs] buffer (vLLM's qkv split):
    the v part and everything outside the views stays bit-identical."""
    tokens, num_heads, num_kv_heads, head_size = 9, 4, 2, 64
    positions = random_positions(rng, (tokens,), 256)
    cache = numpy_cache(256, head_size, 500000.0, np.float32)
    qkv = random_values(rng, (tokens, (num_heads + 2 * num_kv_heads) * head_size))
    original = qkv.copy()
    q_end, k_end = num_heads * head_size, (num_heads + num_kv_heads) * head_size
    query, key = qkv[:, :q_end], qkv[:, q_end:k_end]
    assert not query.flags.c_contiguous

    ropekit.rotary_embedding(positions, query, key, head_size, cache, True)

    for part, start, end in (("query", 0, q_end), ("key", q_end, k_end)):
        expected, magnitude = rotate_oracle(original[:, start:end], positions, head_size, cache, True)
        assert_matches_oracle(qkv[:, start:end], expected, magnitude, "float32", part)
    np.testing.assert_array_equal(qkv[:, k_end:], original[:, k_end:])


def test_batched_positions_and_query_only(rng):
    batch, seq, num_heads, head_size = 3, 5, 2, 32
    positions = random_positions(rng, (batch, seq), 100, np.int32)
    cache = numpy_cache(100, head_size, 10000.0, np.float32)
    query = random_values(rng, (batch, seq, num_heads, head_size))
    original = query.copy()
    ropekit.rotary_embedding(positions, query, None, head_size, cache, False)
    expected, magnitude = rotate_oracle(original, positions, head_size, cache, False)
    assert_matches_oracle(query, expected, magnitude, "float32", "query")


def test_read_only_positions_and_cache_are_accepted(rng):
    positions = random_positions(rng, (4,), 64)
    cache = numpy_cache(64, 16, 10000.0, np.float32)
    positions.flags.writeable = False
    cache.flags.writeable = False
    query = random_values(rng, (4, 16))
    original = query.copy()
    ropekit.rotary_embedding(positions, query, None, 16, cache, True)
    expected, magnitude = rotate_oracle(original, positions, 16, cache, True)
    assert_matches_oracle(query, expected, magnitude, "float32", "query")


@pytest.mark.parametrize("dtype_name", ["float32", "float64", "float16"])
def test_build_cos_sin_cache_matches_float64(dtype_name):
    max_position, rotary_dim, theta = 4096, 128, 500000.0
    cache = ropekit.build_cos_sin_cache(max_position, rotary_dim, theta, dtype=dtype_name)
    assert cache.dtype == np.dtype(dtype_name) and cache.shape == (max_position, rotary_dim)
    exact = numpy_cache(max_position, rotary_dim, theta, np.float64)
    # Rounded once from float64: within half an ulp of the dtype, plus the float64 error of the
    # angle itself (inv_freq from pow and the product p * inv_freq, a few ulps of an angle up to
    # ~4096 rad, computed by numpy here and by libm there).
    mantissa_bits = {"float32": 23, "float64": 52, "float16": 10}[dtype_name]
    _, exponent = np.frexp(np.maximum(np.abs(exact), 2.0 ** -14))
    half_ulp = np.ldexp(1.0, exponent - 2 - mantissa_bits)
    angle = np.arange(max_position, dtype=np.float64)[:, None] * np.ones((1, rotary_dim))
    angle_error = 4 * 2.0 ** -53 * angle
    assert np.all(np.abs(cache.astype(np.float64) - exact) <= half_ulp + angle_error)


def test_build_cos_sin_cache_inv_freq_attention_factor_and_out():
    inv_freq = [1.0, 0.25, 1e-3]
    out = np.full((10, 6), np.nan, dtype=np.float64)
    result = ropekit.build_cos_sin_cache(10, inv_freq=inv_freq, attention_factor=0.5, out=out)
    assert result is out
    angles = np.arange(10.0)[:, None] * np.array(inv_freq)[None, :]
    np.testing.assert_allclose(out, 0.5 * np.concatenate([np.cos(angles), np.sin(angles)], 1),
                               rtol=0, atol=4e-16)


def test_default_inv_freq():
    got = np.array(ropekit.default_inv_freq(10000.0, 64))
    expected = 1.0 / 10000.0 ** (np.arange(0, 64, 2) / 64.0)
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


def test_version_matches_the_project():
    cmake = (REPO / "CMakeLists.txt").read_text()
    project_version = re.search(r"project\(ropekit VERSION (\S+)", cmake).group(1)
    pyproject = (REPO / "pyproject.toml").read_text()
    package_version = re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)
    assert ropekit.__version__ == project_version == package_version


def test_available_backends():
    backends = ropekit.available_backends()
    assert "reference" in backends and "cpu" in backends
    assert all(ropekit.backend_available(name) for name in backends)


# Errors: the library's messages, as ValueError, nothing written ---------------------------------

def small_problem(rng):
    positions = random_positions(rng, (3,), 32)
    cache = numpy_cache(32, 16, 10000.0, np.float32)
    query = random_values(rng, (3, 2 * 16))
    key = random_values(rng, (3, 16))
    return positions, query, key, cache


@pytest.mark.parametrize("change,pattern", [
    (lambda a: a.update(head_size=12), r"^cos_sin_cache: expected rotary_dim .* head_size = 12\], got 16"),
    (lambda a: a.update(query=a["query"].astype(np.int32)), r"^query: expected dtype .* got int32"),
    (lambda a: a.update(positions=a["positions"].astype(np.float32)), r"^positions: "),
    (lambda a: a.update(key=a["key"][:, :8].copy()), r"^key: "),
    (lambda a: a.update(positions=a["positions"] + 100), r"^positions: expected values in \[0, max_position = 32\), got 1"),
    (lambda a: a.update(backend="gpu"), r"^backend: expected one of auto, reference, cpu, cuda, got 'gpu'"),
    (lambda a: a.update(backend="cuda"), r"^backend: 'cuda' .*"),
    (lambda a: a.update(query_out=np.full_like(a["query"], np.nan)), r"^key_out: give both query_out and key_out"),
])
def test_errors_name_the_argument_and_write_nothing(rng, change, pattern):
    positions, query, key, cache = small_problem(rng)
    arguments = dict(positions=positions, query=query, key=key, head_size=16, cos_sin_cache=cache,
                     is_neox=True, backend="auto", query_out=None)
    change(arguments)
    query_before, key_before = arguments["query"].copy(), arguments["key"].copy()
    with pytest.raises(ropekit.Error, match=pattern) as raised:
        ropekit.rotary_embedding(
            arguments["positions"], arguments["query"], arguments["key"], arguments["head_size"],
            arguments["cos_sin_cache"], arguments["is_neox"], query_out=arguments["query_out"],
            backend=arguments["backend"])
    assert isinstance(raised.value, ValueError)
    np.testing.assert_array_equal(arguments["query"], query_before)
    np.testing.assert_array_equal(arguments["key"], key_before)


def test_unsupported_array_type_is_rejected_not_copied(rng):
    positions, query, key, cache = small_problem(rng)
    with pytest.raises(TypeError):
        ropekit.rotary_embedding(positions, query.tolist(), key, 16, cache, True)


def test_bad_stream_argument(rng):
    positions, query, key, cache = small_problem(rng)
    with pytest.raises(TypeError, match="^stream: expected None, an int"):
        ropekit.rotary_embedding(positions, query, key, 16, cache, True, stream="default")


def test_numpy_has_no_bfloat16_cache_without_torch():
    with pytest.raises(ValueError, match="^dtype: .*bfloat16"):
        ropekit.build_cos_sin_cache(8, 16, dtype="bfloat16")


# Fallback: ROPEKIT_BACKEND forces a backend; reference and cpu agree --------------------------

@pytest.mark.parametrize("dtype_name", ["float32", "float16"])
def test_forced_reference_and_cpu_give_the_same_results(rng, monkeypatch, dtype_name):
    dtype = DTYPES[dtype_name]
    tokens, num_heads, head_size = 33, 4, 128
    positions = random_positions(rng, (tokens,), 2048)
    cache = numpy_cache(2048, head_size, 1000000.0, dtype)
    query = random_values(rng, (tokens, num_heads * head_size), dtype)
    results = {}
    for forced in ("reference", "cpu"):
        monkeypatch.setenv("ROPEKIT_BACKEND", forced)
        assert ropekit.resolve_backend(positions, query, None, head_size, cache, True) == forced
        rotated = query.copy()
        ropekit.rotary_embedding(positions, rotated, None, head_size, cache, True)
        results[forced] = rotated
    monkeypatch.delenv("ROPEKIT_BACKEND")
    automatic = query.copy()
    ropekit.rotary_embedding(positions, automatic, None, head_size, cache, True)

    expected, magnitude = rotate_oracle(query, positions, head_size, cache, True)
    for name, rotated in results.items():
        assert_matches_oracle(rotated, expected, magnitude, dtype_name, name)
    # Both within the dtype's tolerance of the oracle, so within twice that of each other.
    difference = np.abs(results["reference"].astype(np.float64) - results["cpu"].astype(np.float64))
    assert np.all(difference <= 2 * tolerance(dtype_name, expected, magnitude))
    # Automatic selection on host data is the cpu backend: the same code, the same bits.
    assert ropekit.resolve_backend(positions, query, None, head_size, cache, True) == "cpu"
    np.testing.assert_array_equal(automatic, results["cpu"])


def test_bad_environment_backend_is_named(rng, monkeypatch):
    positions, query, key, cache = small_problem(rng)
    monkeypatch.setenv("ROPEKIT_BACKEND", "tpu")
    with pytest.raises(ValueError, match="^ROPEKIT_BACKEND: expected one of"):
        ropekit.rotary_embedding(positions, query, key, 16, cache, True)
