"""ropekit's RoPE variants against Hugging Face transformers (the authority), per real config.

For every config in tests/data/configs:
  * inv_freq and attention factor: transformers' ROPE_INIT_FUNCTIONS (or the model's default-rope
    function) vs ropekit's (C API ropekit_rope_frequencies_from_hf_config), at load time and, for
    dynamic NTK and LongRoPE, past the original length; relative error <= 1e-6 (transformers
    computes them in float32).
  * accuracy: ropekit's float32 cache and transformers' own float32 cos/sin (the arithmetic of its
    RotaryEmbedding.forward) against cos/sin(p * inv_freq) in float64 at positions 0, 1, 4095,
    4096, 8191 and 131071: ropekit's error must be <= transformers' at every position.
MRoPE: ropekit's reference kernel vs transformers' Qwen2-VL / Qwen3-VL / Qwen3.5 rotary functions
on random 3-stream positions.

Run: ROPEKIT_LIBRARY=build/src/libropekit.so pytest tests/python/test_transformers_parity.py
"""

import importlib
import json
import math
import pathlib

import pytest

np = pytest.importorskip("numpy", reason="numpy is not installed")
torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch)")
transformers = pytest.importorskip("transformers", reason="transformers is not installed")

import ropekit_ctypes  # noqa: E402  (after the skips: it needs numpy)

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "data" / "configs"
CONFIG_FILES = sorted(CONFIG_DIR.glob("*.json"))
PROBE_POSITIONS = [0, 1, 4095, 4096, 8191, 131071]
MAX_POSITIONS = 131072


@pytest.fixture(scope="module")
def lib():
    path = ropekit_ctypes.library_path()
    if not path.exists():
        pytest.skip(f"libropekit not found at {path} (set ROPEKIT_LIBRARY)")
    try:
        return ropekit_ctypes.load()
    except ropekit_ctypes.RopekitError as error:
        pytest.fail(str(error))


def load_json(path):
    return json.loads(path.read_text())


def copy_of(data):
    # transformers standardizes rope dicts in place; ropekit must see the file as written.
    return json.loads(json.dumps(data))


def hf_text_config(data):
    """The transformers config object of a config.json (its text part for multimodal models)."""
    try:
        fields = {k: v for k, v in data.items() if k != "model_type"}
        config = transformers.AutoConfig.for_model(data.get("model_type"), **fields)
    except (ValueError, KeyError):  # families served by remote code (InternLM2): Llama's layout
        config = transformers.LlamaConfig(**data)
    return config.get_text_config()


def rope_section(config):
    """(rope_parameters dict, layer_type) of a standardized config; Gemma-3 nests per layer type."""
    params = config.rope_parameters
    if "full_attention" in params and isinstance(params["full_attention"], dict):
        return params["full_attention"], "full_attention"
    return params, None


def transformers_frequencies(data, config):
    """inv_freq (float32 tensor) and attention factor as transformers computes them."""
    if data.get("model_type") == "gptj":  # GPT-J has no rope_parameters: its own table builder
        dim = data["rotary_dim"]
        return 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.int64) / dim)), 1.0
    params, layer_type = rope_section(config)
    rope_type = params["rope_type"]
    if rope_type != "default":
        init = transformers.modeling_rope_utils.ROPE_INIT_FUNCTIONS[rope_type]
        kwargs = {"layer_type": layer_type} if layer_type else {}
        return init(config, None, **kwargs)
    # "default" lives on each model's RotaryEmbedding; GPT-NeoX's handles partial rotary.
    from transformers.models.gpt_neox.modeling_gpt_neox import GPTNeoXRotaryEmbedding
    return GPTNeoXRotaryEmbedding.compute_default_rope_parameters(config)


def ropekit_cache(lib, data, rotary_dim, dtype):
    return ropekit_ctypes.cos_sin_cache_from_hf_config(
        lib, json.dumps(data), MAX_POSITIONS, rotary_dim, dtype)


def ropekit_frequencies(lib, data, sequence_length=0):
    return ropekit_ctypes.rope_frequencies_from_hf_config(lib, json.dumps(data), sequence_length)


def truth(inv_freq64, attention, positions):
    """cos and sin of p * inv_freq in float64, times the attention factor: [len(positions), h]."""
    angles = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq64[None, :]
    return np.cos(angles) * attention, np.sin(angles) * attention


def transformers_float32_cos_sin(data, inv_freq, attention, positions):
    """transformers' own float32 cos/sin: RotaryEmbedding.forward's arithmetic (float32 inv_freq
    times float32 positions, float32 cos/sin, times attention_scaling); GPT-J's sinusoid table."""
    position_ids = torch.tensor(positions, dtype=torch.int64)
    if data.get("model_type") == "gptj":
        from transformers.models.gptj.modeling_gptj import create_sinusoidal_positions
        table = create_sinusoidal_positions(max(positions) + 1, data["rotary_dim"])[position_ids]
        half = table.shape[1] // 2
        return table[:, half:].double().numpy(), table[:, :half].double().numpy()
    freqs = position_ids.float()[:, None] @ inv_freq.float()[None, :]
    return (freqs.cos() * attention).double().numpy(), (freqs.sin() * attention).double().numpy()


def original_length(config):
    params, _ = rope_section(config)
    return params.get("original_max_position_embeddings") or config.max_position_embeddings


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[p.stem for p in CONFIG_FILES])
def test_frequencies_match_transformers(lib, path):
    data = load_json(path)
    config = hf_text_config(copy_of(data))
    tf_inv_freq, tf_attention = transformers_frequencies(data, config)
    inv_freq, attention = ropekit_frequencies(lib, data)
    assert inv_freq.shape == tuple(tf_inv_freq.shape)
    np.testing.assert_allclose(inv_freq, tf_inv_freq.double().numpy(), rtol=1e-6, atol=0)
    assert math.isclose(attention, float(tf_attention), rel_tol=1e-6)

    # The length-dependent types, past their original length: dynamic NTK's larger base,
    # LongRoPE's long factors.
    rope_type = rope_section(config)[0].get("rope_type") if data.get("model_type") != "gptj" else "default"
    if rope_type in ("dynamic", "longrope"):
        length = 2 * original_length(config) + 1
        init = transformers.modeling_rope_utils.ROPE_INIT_FUNCTIONS[rope_type]
        tf_inv_freq, tf_attention = init(config, None, seq_len=length)
        inv_freq, attention = ropekit_frequencies(lib, data, length)
        np.testing.assert_allclose(inv_freq, tf_inv_freq.double().numpy(), rtol=1e-6, atol=0)
        assert math.isclose(attention, float(tf_attention), rel_tol=1e-6)
        assert not np.allclose(inv_freq, ropekit_frequencies(lib, data)[0], rtol=1e-3)


def test_cache_rows_are_the_frequencies(lib):
    """The C API cache and the C API frequencies agree: row 0 is the attention factor, row 1 the
    angles inv_freq (read back with atan2)."""
    data = load_json(CONFIG_DIR / "phi3_5_mini_instruct.json")
    inv_freq, attention = ropekit_frequencies(lib, data)
    cache = ropekit_ctypes.cos_sin_cache_from_hf_config(lib, json.dumps(data), 2, 2 * len(inv_freq), np.float64)
    half = len(inv_freq)
    np.testing.assert_allclose(cache[0, :half], attention, rtol=1e-15)
    np.testing.assert_allclose(np.arctan2(cache[1, half:], cache[1, :half]), inv_freq, rtol=1e-14)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[p.stem for p in CONFIG_FILES])
def test_cache_at_least_as_accurate_as_transformers(lib, path):
    data = load_json(path)
    config = hf_text_config(copy_of(data))
    tf_inv_freq, tf_attention = transformers_frequencies(data, config)
    rotary_dim = 2 * len(tf_inv_freq)
    inv_freq64, attention = ropekit_frequencies(lib, data)
    cache32 = ropekit_cache(lib, data, rotary_dim, np.float32).astype(np.float64)
    half = rotary_dim // 2

    cos_true, sin_true = truth(inv_freq64, attention, PROBE_POSITIONS)
    tf_cos, tf_sin = transformers_float32_cos_sin(data, tf_inv_freq, tf_attention, PROBE_POSITIONS)
    for row, p in enumerate(PROBE_POSITIONS):
        ours = max(np.abs(cache32[p, :half] - cos_true[row]).max(),
                   np.abs(cache32[p, half:] - sin_true[row]).max())
        theirs = max(np.abs(tf_cos[row] - cos_true[row]).max(),
                     np.abs(tf_sin[row] - sin_true[row]).max())
        print(f"{path.stem} p={p}: ropekit {ours:.3e}  transformers float32 {theirs:.3e}")
        assert ours <= 1e-6, f"position {p}: ropekit float32 cache error {ours}"
        assert ours <= theirs, f"position {p}: ropekit {ours} > transformers {theirs}"


def test_forward_shortcut_matches_a_real_rotary_module():
    """The float32 arithmetic above is what LlamaRotaryEmbedding.forward does (Llama-3.1)."""
    data = load_json(CONFIG_DIR / "llama3_1_8b.json")
    config = hf_text_config(copy_of(data))
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
    module = LlamaRotaryEmbedding(config)
    positions = [0, 1, 4095, 4096, 8191]
    cos, sin = module(torch.zeros(1, dtype=torch.float32), torch.tensor([positions]))
    inv_freq, attention = transformers_frequencies(data, config)
    our_cos, our_sin = transformers_float32_cos_sin(data, inv_freq, attention, positions)
    half = len(inv_freq)
    np.testing.assert_array_equal(cos[0, :, :half].double().numpy(), our_cos)
    np.testing.assert_array_equal(sin[0, :, :half].double().numpy(), our_sin)


# --- MRoPE ---

MROPE_MODELS = [
    ("qwen2_vl_7b_instruct.json", "transformers.models.qwen2_vl.modeling_qwen2_vl", "Qwen2VLRotaryEmbedding"),
    ("qwen3_vl_8b_instruct.json", "transformers.models.qwen3_vl.modeling_qwen3_vl", "Qwen3VLTextRotaryEmbedding"),
    ("qwen3_6_35b_a3b.json", "transformers.models.qwen3_5_moe.modeling_qwen3_5_moe", "Qwen3_5MoeTextRotaryEmbedding"),
]


@pytest.mark.parametrize("file,module_name,class_name", MROPE_MODELS, ids=[m[0][:-5] for m in MROPE_MODELS])
def test_mrope_matches_transformers(lib, file, module_name, class_name):
    data = load_json(CONFIG_DIR / file)
    config = hf_text_config(copy_of(data))
    module = importlib.import_module(module_name)
    rotary = rotary_of(module, class_name, config)
    head_size = config.head_dim if getattr(config, "head_dim", None) else config.hidden_size // config.num_attention_heads
    rotary_dim = 2 * rotary.inv_freq.shape[0]
    section = config.rope_parameters["mrope_section"]
    interleaved = bool(config.rope_parameters.get("mrope_interleaved", False))

    rng = np.random.default_rng()
    tokens, heads, kv_heads, max_position = 37, 4, 2, 8192
    positions = rng.integers(0, max_position, size=(3, tokens), dtype=np.int64)
    query = rng.uniform(-1, 1, size=(tokens, heads, head_size)).astype(np.float32)
    key = rng.uniform(-1, 1, size=(tokens, kv_heads, head_size)).astype(np.float32)

    # transformers' rotary forward multiplies float32 positions by float32 inv_freq. With inv_freq
    # rounded to 8 significant bits and positions < 2^13 that product is exact, so both sides see
    # the same angles and only the stream assignment and the rotation are compared.
    mantissa, exponent = np.frexp(inv_freq_of_rotary(rotary))
    inv_freq = np.ldexp(np.round(mantissa * 256) / 256, exponent)
    rotary.inv_freq = torch.tensor(inv_freq, dtype=torch.float32)
    rotary.attention_scaling = 1.0
    cos, sin = rotary(torch.zeros(1, dtype=torch.float64), torch.tensor(positions)[:, None, :])
    q = torch.tensor(query, dtype=torch.float64).transpose(0, 1)[None]  # [1, heads, T, head]
    k = torch.tensor(key, dtype=torch.float64).transpose(0, 1)[None]
    q_ref, k_ref = module.apply_rotary_pos_emb(q, k, cos, sin)
    q_ref = q_ref[0].transpose(0, 1).numpy()
    k_ref = k_ref[0].transpose(0, 1).numpy()

    angles = np.arange(max_position, dtype=np.float64)[:, None] * inv_freq[None, :]
    cache32 = np.concatenate([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    ropekit_ctypes.rotary_embedding_mrope(lib, positions, query, key, cache32, head_size, section, interleaved)
    # float32 cos/sin on both sides (may differ by an ulp) and a float32 output: |x| <= 1.
    np.testing.assert_allclose(query, q_ref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(key, k_ref, rtol=0, atol=1e-6)

    # And the frequencies transformers uses for this model are ropekit's.
    ropekit_inv_freq, attention = ropekit_frequencies(lib, data)
    np.testing.assert_allclose(ropekit_inv_freq, inv_freq_of_rotary(rotary_of(module, class_name, config)), rtol=1e-6)
    assert attention == 1.0


def inv_freq_of_rotary(rotary):
    return rotary.inv_freq.double().numpy()


def rotary_of(module, class_name, config):
    return getattr(module, class_name)(config)


def test_mrope_errors_reach_python(lib):
    positions = np.zeros((2, 4), dtype=np.int64)  # not [3, T]
    query = np.zeros((4, 1, 8), dtype=np.float32)
    key = np.zeros((4, 1, 8), dtype=np.float32)
    cache = np.zeros((16, 8), dtype=np.float32)
    with pytest.raises(ropekit_ctypes.RopekitError, match=r"\[3, T\]"):
        ropekit_ctypes.rotary_embedding_mrope(lib, positions, query, key, cache, 8, [2, 1, 1], False)
