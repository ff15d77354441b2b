"""RopeConfig bindings: an HF config (dict, JSON text, path) to frequencies and caches, checked
against formulas written here from the spec (ROPE_SPEC.md section 3)."""
import json
import math

import numpy as np
import pytest

import ropekit

# Llama-3.1-8B's rope fields (its config.json on the Hub).
LLAMA_3_1 = {
    "model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
    "num_key_value_heads": 8, "max_position_embeddings": 131072, "rope_theta": 500000.0,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
}


def llama3_inv_freq(theta, rotary_dim, factor, low, high, original_length):
    inv_freq = 1.0 / theta ** (np.arange(0, rotary_dim, 2) / rotary_dim)
    wavelength = 2 * math.pi / inv_freq
    smooth = (original_length / wavelength - low) / (high - low)
    blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    return np.where(wavelength > original_length / low, inv_freq / factor,
                    np.where(wavelength < original_length / high, inv_freq, blended))


@pytest.mark.parametrize("form", ["dict", "text", "path"])
def test_rope_config_from_every_form(tmp_path, form):
    if form == "dict":
        source = LLAMA_3_1
    elif form == "text":
        source = json.dumps(LLAMA_3_1)
    else:
        source = tmp_path / "config.json"
        source.write_text(json.dumps(LLAMA_3_1))
    config = ropekit.rope_config(source)
    assert (config.type, config.head_size, config.rotary_dim, config.is_neox) == ("llama3", 128, 128, True)
    assert config.rope_theta == 500000.0 and config.max_position_embeddings == 131072
    assert config.original_max_position_embeddings == 8192 and config.factor == 8.0


def test_llama3_frequencies_and_cache_match_the_formula():
    config = ropekit.rope_config(LLAMA_3_1)
    inv_freq, attention_factor = ropekit.rope_frequencies(config)
    expected = llama3_inv_freq(500000.0, 128, 8.0, 1.0, 4.0, 8192)
    np.testing.assert_allclose(inv_freq, expected, rtol=1e-13, atol=0)
    assert attention_factor == 1.0
    cache = ropekit.build_config_cos_sin_cache(config, 3000)
    assert cache.shape == (3000, 128) and cache.dtype == np.float32
    angles = np.arange(3000.0)[:, None] * expected[None, :]
    exact = np.concatenate([np.cos(angles), np.sin(angles)], axis=1)
    # float32 rounding (half an ulp <= 2^-25 for |x| <= 1) plus the float64 angle error.
    assert np.all(np.abs(cache - exact) <= 2.0 ** -25 + 3000 * 2.0 ** -50)
    # The same frequencies through the plain builder give the same bits.
    plain = ropekit.build_cos_sin_cache(3000, inv_freq=inv_freq, attention_factor=attention_factor)
    np.testing.assert_array_equal(cache, plain)


def test_config_errors_name_the_field():
    bad = dict(LLAMA_3_1, rope_scaling=dict(LLAMA_3_1["rope_scaling"], factor="eight"))
    with pytest.raises(ropekit.Error, match="factor"):
        ropekit.rope_config(bad)
    with pytest.raises(ropekit.Error, match="no-such-config.json"):
        ropekit.rope_config("/tmp/no-such-config.json")
    with pytest.raises(TypeError, match="^config: expected"):
        ropekit.rope_config(42)
