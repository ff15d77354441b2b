"""ropekit.RotaryEmbedding: owns its cache, follows the inputs' device and dtype, rounds once;
LongRoPE picks short or long factors as transformers does."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import ropekit  # noqa: E402
from conftest import assert_matches_oracle, rotate_oracle  # noqa: E402
from test_torch_ops import check, torch_cache  # noqa: E402


def assert_rounded_once(cache, max_position, rotary_dim, base):
    """Within half an ulp of the float64 cache (computed here), and bit-identical to the library's
    single rounding, which a cast of a float32 cache is not (a few elements differ)."""
    exact = torch_cache(max_position, rotary_dim, base, torch.float64)
    mantissa_bits = {torch.float32: 23, torch.float16: 10, torch.bfloat16: 7}[cache.dtype]
    _, exponent = torch.frexp(exact.abs().clamp_min(2.0 ** -14))
    half_ulp = torch.ldexp(torch.ones_like(exact), exponent - 2 - mantissa_bits)
    angle_error = max_position * 2.0 ** -50  # float64 angles up to max_position rad
    assert torch.all((cache.double() - exact).abs() <= half_ulp + angle_error)
    assert torch.equal(cache, ropekit.build_cos_sin_cache(max_position, rotary_dim, base,
                                                          dtype=cache.dtype))


@pytest.fixture
def generator(rng):
    return torch.Generator().manual_seed(int(rng.integers(2 ** 62)))


def test_cache_is_the_float64_cache_rounded_once():
    rope = ropekit.RotaryEmbedding(128, 64, max_position=2048, base=500000.0, dtype=torch.float16)
    assert rope.cos_sin_cache.dtype == torch.float16 and rope.cos_sin_cache.shape == (2048, 64)
    assert_rounded_once(rope.cos_sin_cache, 2048, 64, 500000.0)
    assert "cos_sin_cache" not in rope.state_dict()  # derived data, not a weight


@pytest.mark.parametrize("is_neox", [True, False])
def test_forward_rotates_in_place_like_the_oracle(generator, is_neox):
    rope = ropekit.RotaryEmbedding(96, 32, max_position=512, base=10000.0, is_neox=is_neox)
    positions = torch.randint(0, 512, (2, 9), generator=generator)  # [batch, seq]
    query = torch.randn(2, 9, 4 * 96, generator=generator)
    key = torch.randn(2, 9, 2 * 96, generator=generator)
    query_in, key_in = query.clone(), key.clone()
    query_out, key_out = rope(positions, query, key)
    assert query_out is query and key_out is key
    check(query, query_in, positions, 96, rope.cos_sin_cache, is_neox, "float32", "query")
    check(key, key_in, positions, 96, rope.cos_sin_cache, is_neox, "float32", "key")
    query_only = torch.randn(3, 96, generator=generator)
    original = query_only.clone()
    _, no_key = rope(positions[0, :3], query_only)
    assert no_key is None
    check(query_only, original, positions[0, :3], 96, rope.cos_sin_cache, is_neox, "float32", "q")


def test_other_dtype_cache_is_built_once_and_rounded_once(generator, monkeypatch):
    rope = ropekit.RotaryEmbedding(64, 64, max_position=1024, dtype=torch.float32)
    builds = []
    original_build = rope._build_cache
    monkeypatch.setattr(rope, "_build_cache", lambda dtype, *rest: builds.append(dtype) or
                        original_build(dtype, *rest))
    positions = torch.randint(0, 1024, (5,), generator=generator)
    for _ in range(3):
        query = torch.randn(5, 2 * 64, generator=generator).to(torch.bfloat16)
        original = query.clone()
        rope(positions, query)
        bf16_cache = rope.cache_for(query.device, torch.bfloat16)
        check(query, original, positions, 64, bf16_cache, True, "bfloat16", "query")
    assert builds == [torch.bfloat16]  # built on the first call only
    assert_rounded_once(bf16_cache, 1024, 64, 10000.0)
    assert rope.cache_for(torch.device("cpu"), torch.float32) is rope.cos_sin_cache


def test_module_to_dtype_rebuilds_instead_of_casting():
    rope = ropekit.RotaryEmbedding(64, 64, max_position=4096, base=1000000.0, dtype=torch.float32)
    rope.to(torch.bfloat16)
    assert rope.cos_sin_cache.dtype == torch.bfloat16
    assert_rounded_once(rope.cos_sin_cache, 4096, 64, 1000000.0)
    cast = ropekit.build_cos_sin_cache(4096, 64, 1000000.0, dtype=torch.float32).to(torch.bfloat16)
    assert not torch.equal(cast, rope.cos_sin_cache)  # what a plain cast would have given


def test_bad_dtype_is_named():
    with pytest.raises(ValueError, match="^dtype: expected one of"):
        ropekit.RotaryEmbedding(64, 64, 128, dtype=torch.int32)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")
def test_cache_follows_the_inputs_to_cuda(generator):
    if "cuda" not in ropekit.available_backends():
        pytest.skip("this build of ropekit has no CUDA backend")
    rope = ropekit.RotaryEmbedding(64, 64, max_position=256)
    positions = torch.randint(0, 256, (4,), generator=generator).cuda()
    query = torch.randn(4, 64, generator=generator).cuda().half()
    original = query.clone()
    rope(positions, query)
    cache = rope.cache_for(query.device, torch.float16)
    assert cache.is_cuda
    check(query, original, positions, 64, cache, True, "float16", "query")


LLAMA_3_1 = {
    "model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
    "num_key_value_heads": 8, "max_position_embeddings": 131072, "rope_theta": 500000.0,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
}


def test_from_hf_config_uses_the_scaled_frequencies():
    rope = ropekit.RotaryEmbedding.from_hf_config(LLAMA_3_1, dtype=torch.bfloat16,
                                                  max_position=4096)
    assert (rope.head_size, rope.rotary_dim, rope.max_position, rope.is_neox) == (128, 128, 4096, True)
    expected = ropekit.build_config_cos_sin_cache(LLAMA_3_1, 4096, dtype=torch.bfloat16)
    assert torch.equal(rope.cos_sin_cache, expected)
    unscaled = ropekit.build_cos_sin_cache(4096, 128, 500000.0, dtype=torch.bfloat16)
    assert not torch.equal(rope.cos_sin_cache, unscaled)  # llama3 scaling changed the low freqs


def test_from_hf_config_multimodal_sections(generator, monkeypatch):
    qwen2_vl = {"model_type": "qwen2_vl", "hidden_size": 3584, "num_attention_heads": 28,
                "num_key_value_heads": 4, "max_position_embeddings": 32768,
                "rope_theta": 1000000.0, "rope_scaling": {"type": "mrope",
                                                          "mrope_section": [16, 24, 24]}}
    rope = ropekit.RotaryEmbedding.from_hf_config(qwen2_vl, max_position=1024)
    assert rope.mrope_section == [16, 24, 24] and not rope.mrope_interleaved
    monkeypatch.setenv("ROPEKIT_BACKEND", "reference")  # the backend with mrope so far
    positions = torch.randint(0, 1024, (3, 6), generator=generator)
    query = torch.randn(6, 28 * 128, generator=generator)
    expected = query.clone()
    torch.ops.ropekit.mrope_rotary_embedding(positions, expected, None, 128,
                                             rope.cos_sin_cache, [16, 24, 24])
    rope(positions, query)
    assert torch.equal(query, expected)


PHI3_LONGROPE = {"model_type": "phi3", "hidden_size": 3072, "num_attention_heads": 32,
                 "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
                 "rope_theta": 10000.0,
                 "rope_scaling": {"type": "longrope", "short_factor": [1.0 + i / 48 for i in range(48)],
                                  "long_factor": [2.0 + i / 8 for i in range(48)]}}


def longrope_expected(query, positions, factors, attention_factor, l0=4096, theta=10000.0):
    """transformers' LongRoPE rotation in float64: inv_freq / factor, cos/sin times the factor."""
    half = len(factors)
    inv_freq = np.array([1.0 / (theta ** (2 * i / (2 * half))) / factors[i] for i in range(half)])
    angles = positions.numpy()[:, None].astype(np.float64) * inv_freq[None, :]
    cache = np.concatenate([np.cos(angles), np.sin(angles)], axis=1) * attention_factor
    return rotate_oracle(query.double().numpy(), np.arange(len(positions)), 96, cache, True)


@pytest.mark.parametrize("long_positions", [False, True])
def test_longrope_picks_short_or_long_factors_like_transformers(generator, long_positions):
    rope = ropekit.RotaryEmbedding.from_hf_config(PHI3_LONGROPE, max_position=8192)
    low, high = (4096, 8192) if long_positions else (0, 4096)
    positions = torch.randint(low, high, (5,), generator=generator)
    query = torch.randn(5, 32 * 96, generator=generator, dtype=torch.float32)
    scaling = PHI3_LONGROPE["rope_scaling"]
    factors = scaling["long_factor"] if long_positions else scaling["short_factor"]
    # transformers: attention factor sqrt(1 + ln(131072 / 4096) / ln(4096)) for both sets.
    attention_factor = math.sqrt(1 + math.log(131072 / 4096) / math.log(4096))
    expected, magnitude = longrope_expected(query, positions, factors, attention_factor)
    rotated, _ = rope(positions, query.clone())
    assert_matches_oracle(rotated.double().numpy(), expected, magnitude, "float32")
    # The explicit choice gives the same bits as the automatic one.
    explicit, _ = rope(positions, query.clone(), long_factors=long_positions)
    assert torch.equal(explicit, rotated)


def test_long_factors_without_longrope_is_an_error(generator):
    rope = ropekit.RotaryEmbedding(64, 64, 128)
    with pytest.raises(ValueError, match="^long_factors: "):
        rope(torch.zeros(2, dtype=torch.int64), torch.zeros(2, 64), long_factors=True)
