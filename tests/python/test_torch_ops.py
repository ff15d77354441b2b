"""torch.ops.ropekit with torch tensors: results vs the float64 oracle, opcheck, errors, devices."""
import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import ropekit  # noqa: E402
import ropekit.torch_ops  # noqa: E402,F401  (registers torch.ops.ropekit)
from conftest import assert_matches_oracle, rotate_oracle  # noqa: E402

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")


def torch_cache(max_position, rotary_dim, theta, dtype, device="cpu"):
    """cos/sin in float64 (computed here, not by the library), rounded once to dtype."""
    inv_freq = 1.0 / theta ** (torch.arange(0, rotary_dim, 2, dtype=torch.float64) / rotary_dim)
    angles = torch.arange(max_position, dtype=torch.float64)[:, None] * inv_freq[None, :]
    return torch.cat([angles.cos(), angles.sin()], dim=1).to(dtype).to(device)


def as_float64(tensor):
    return tensor.detach().to("cpu", torch.float64).numpy()


def make_problem(generator, dtype, device="cpu", *, tokens=11, num_heads=4, num_kv_heads=2,
                 head_size=64, rotary_dim=64, max_position=1024, batch=None, with_key=True):
    token_shape = (tokens,) if batch is None else (batch, tokens)
    positions = torch.randint(0, max_position, token_shape, generator=generator).to(device)
    cache = torch_cache(max_position, rotary_dim, 10000.0, dtype, device)
    query = torch.randn(*token_shape, num_heads * head_size, generator=generator).to(dtype).to(device)
    key = None
    if with_key:
        key = torch.randn(*token_shape, num_kv_heads, head_size, generator=generator)
        key = key.to(dtype).to(device)
    return positions, query, key, head_size, cache


@pytest.fixture
def generator(rng):
    return torch.Generator().manual_seed(int(rng.integers(2 ** 62)))


def check(got, original, positions, head_size, cache, is_neox, dtype_name, what, inverse=False):
    expected, magnitude = rotate_oracle(as_float64(original), as_float64(positions).astype(np.int64),
                                        head_size, as_float64(cache), is_neox, inverse)
    assert_matches_oracle(as_float64(got), expected, magnitude, dtype_name, what)


@pytest.mark.parametrize("dtype_name,is_neox,with_key",
                         list(itertools.product(TORCH_DTYPES, [True, False], [True, False])))
def test_in_place_op_matches_oracle(generator, dtype_name, is_neox, with_key):
    dtype = TORCH_DTYPES[dtype_name]
    positions, query, key, head_size, cache = make_problem(
        generator, dtype, with_key=with_key, head_size=128, rotary_dim=64)  # partial rotation
    query_in = query.clone()
    key_in = None if key is None else key.clone()
    result = torch.ops.ropekit.rotary_embedding(positions, query, key, head_size, cache, is_neox)
    assert result is None
    check(query, query_in, positions, head_size, cache, is_neox, dtype_name, "query")
    if with_key:
        check(key, key_in, positions, head_size, cache, is_neox, dtype_name, "key")


@pytest.mark.parametrize("dtype_name,is_neox,inverse",
                         list(itertools.product(TORCH_DTYPES, [True, False], [False, True])))
def test_vllm_eight_argument_call_with_offset_and_inverse(generator, dtype_name, is_neox, inverse):
    """vLLM's current call: the rotary part starts rope_dim_offset elements into each head."""
    dtype = TORCH_DTYPES[dtype_name]
    offset, rotary_dim = 24, 32
    positions, query, key, head_size, cache = make_problem(
        generator, dtype, head_size=96, rotary_dim=rotary_dim)
    query_in, key_in = query.clone(), key.clone()
    torch.ops.ropekit.rotary_embedding(positions, query, key, head_size, cache, is_neox, offset,
                                       inverse)
    for got, original, what in ((query, query_in, "query"), (key, key_in, "key")):
        heads, heads_in = got.view(11, -1, head_size), original.view(11, -1, head_size)
        assert torch.equal(heads[..., :offset], heads_in[..., :offset]), what
        # From the offset on, a head of head_size - offset elements rotated as usual.
        check(heads[..., offset:], heads_in[..., offset:], positions, head_size - offset, cache,
              is_neox, dtype_name, what, inverse)


def test_rope_dim_offset_out_of_range_is_refused(generator):
    positions, query, key, head_size, cache = make_problem(generator, torch.float32,
                                                           rotary_dim=32)
    query_before = query.clone()
    with pytest.raises(ValueError, match=r"^rope_dim_offset: expected a value in \[0, "
                                         r"head_size - rotary_dim = 32\], got 33"):
        torch.ops.ropekit.rotary_embedding(positions, query, key, head_size, cache, True, 33)
    assert torch.equal(query, query_before)


@pytest.mark.parametrize("dtype_name,inverse", list(itertools.product(TORCH_DTYPES, [False, True])))
def test_functional_op_matches_oracle_and_leaves_inputs(generator, dtype_name, inverse):
    dtype = TORCH_DTYPES[dtype_name]
    positions, query, key, head_size, cache = make_problem(generator, dtype, batch=2, tokens=5)
    query_in, key_in = query.clone(), key.clone()
    query_out, key_out = torch.ops.ropekit.rotary_embedding_functional(
        positions, query, key, head_size, cache, True, inverse)
    check(query_out, query_in, positions, head_size, cache, True, dtype_name, "query_out", inverse)
    check(key_out, key_in, positions, head_size, cache, True, dtype_name, "key_out", inverse)
    assert torch.equal(query, query_in) and torch.equal(key, key_in)
    _, no_key = torch.ops.ropekit.rotary_embedding_functional(
        positions, query, None, head_size, cache, True)
    assert no_key is None


def test_fused_qkv_slices_in_place(generator):
    """vLLM passes q and k as column slices of the qkv projection output."""
    tokens, num_heads, num_kv_heads, head_size = 7, 8, 2, 64
    positions = torch.randint(0, 512, (tokens,), generator=generator)
    cache = torch_cache(512, head_size, 10000.0, torch.bfloat16)
    qkv = torch.randn(tokens, (num_heads + 2 * num_kv_heads) * head_size,
                      generator=generator).to(torch.bfloat16)
    original = qkv.clone()
    query, key, value = qkv.split([num_heads * head_size, num_kv_heads * head_size,
                                   num_kv_heads * head_size], dim=-1)
    torch.ops.ropekit.rotary_embedding(positions, query, key, head_size, cache, True)
    q_original, k_original, v_original = original.split(
        [num_heads * head_size, num_kv_heads * head_size, num_kv_heads * head_size], dim=-1)
    check(query, q_original, positions, head_size, cache, True, "bfloat16", "query")
    check(key, k_original, positions, head_size, cache, True, "bfloat16", "key")
    assert torch.equal(value, v_original)


def test_dlpack_function_accepts_torch_tensors(generator):
    positions, query, key, head_size, cache = make_problem(generator, torch.bfloat16)
    query_out = torch.full_like(query, float("nan"))  # poisoned
    key_out = torch.full_like(key, float("nan"))
    ropekit.rotary_embedding(positions, query, key, head_size, cache, False,
                             query_out=query_out, key_out=key_out)
    check(query_out, query, positions, head_size, cache, False, "bfloat16", "query_out")
    check(key_out, key, positions, head_size, cache, False, "bfloat16", "key_out")


def test_bfloat16_cache_from_build_cos_sin_cache():
    cache = ropekit.build_cos_sin_cache(300, 32, 10000.0, dtype=torch.bfloat16)
    assert cache.dtype == torch.bfloat16 and cache.shape == (300, 32)
    exact = torch_cache(300, 32, 10000.0, torch.float64)
    # One rounding: within half a bfloat16 ulp of float64 (|x| = m * 2^e, m in [0.5, 1): the ulp
    # is 2^(e - 8)), plus the float64 angle error (a few ulps of an angle up to 300 rad).
    _, exponent = torch.frexp(exact.abs().clamp_min(2.0 ** -126))
    half_ulp = torch.ldexp(torch.ones_like(exact), exponent - 9)
    assert torch.all((cache.double() - exact).abs() <= half_ulp + 300 * 2.0 ** -50)


def test_errors_are_value_errors_with_the_library_message(generator):
    positions, query, key, head_size, cache = make_problem(generator, torch.float32)
    query_before = query.clone()
    with pytest.raises(ValueError, match=r"^key: expected the dtype of query \(float32\), got float16"):
        torch.ops.ropekit.rotary_embedding(positions, query, key.half(), head_size, cache, True)
    with pytest.raises(ValueError, match=r"^positions: expected values in \[0, max_position = 1024\)"):
        torch.ops.ropekit.rotary_embedding(positions + 1024, query, key, head_size, cache, True)
    # (C++ kernels name torch's dtype; the Python kernels go through DLPack, which names its code.)
    with pytest.raises(ValueError, match=r"^query: (expected dtype .*, got .*Byte|unsupported DLPack dtype)"):
        torch.ops.ropekit.rotary_embedding(positions, query.to(torch.uint8), key, head_size, cache,
                                           True)
    with pytest.raises(ValueError, match=r"^query: expected 1 to 4 dimensions, got 5"):
        torch.ops.ropekit.rotary_embedding_functional(positions, query.reshape(11, 2, 2, 2, 32),
                                                      key, head_size, cache, True)
    assert torch.equal(query, query_before)


def test_opcheck_all_ops(generator):
    for dtype in TORCH_DTYPES.values():
        for with_key in (True, False):
            positions, query, key, head_size, cache = make_problem(
                generator, dtype, tokens=4, with_key=with_key, head_size=32, rotary_dim=16)
            torch.library.opcheck(torch.ops.ropekit.rotary_embedding.default,
                                  (positions, query, key, head_size, cache, True))
            torch.library.opcheck(torch.ops.ropekit.rotary_embedding.default,
                                  (positions, query, key, head_size, cache, False, 8, True))
            torch.library.opcheck(torch.ops.ropekit.rotary_embedding_functional.default,
                                  (positions, query, key, head_size, cache, False, False))
    # With gradients required: checks the autograd registration too.
    positions, query, key, head_size, cache = make_problem(generator, torch.float32, tokens=3)
    torch.library.opcheck(torch.ops.ropekit.rotary_embedding_functional.default,
                          (positions, query.requires_grad_(), key.requires_grad_(), head_size,
                           cache, True, True))


def test_kernels_are_the_cpp_ones_when_built():
    from ropekit import _build_info

    if not _build_info.TORCH_KERNELS_TORCH_VERSION:
        pytest.skip("ropekit was built without torch importable: Python kernels by design")
    assert ropekit.torch_ops.KERNELS == "c++"


@needs_cuda
@pytest.mark.parametrize("dtype_name", list(TORCH_DTYPES))
def test_cuda_in_place_matches_oracle_or_names_what_is_missing(generator, dtype_name):
    positions, query, key, head_size, cache = make_problem(generator, TORCH_DTYPES[dtype_name],
                                                           "cuda")
    query_in, key_in = query.clone(), key.clone()
    if "cuda" not in ropekit.available_backends():
        with pytest.raises(ValueError, match="^backend: 'cuda' is not available"):
            torch.ops.ropekit.rotary_embedding(positions, query, key, head_size, cache, True)
        return
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())  # the inputs were made on the default stream
    with torch.cuda.stream(stream):  # the op runs on the current stream
        torch.ops.ropekit.rotary_embedding(positions, query, key, head_size, cache, True)
    stream.synchronize()
    check(query, query_in, positions, head_size, cache, True, dtype_name, "query")
    check(key, key_in, positions, head_size, cache, True, dtype_name, "key")


@needs_cuda
def test_cuda_opcheck_and_graph_capture(generator):
    if "cuda" not in ropekit.available_backends():
        pytest.skip("this build of ropekit has no CUDA backend")
    positions, query, key, head_size, cache = make_problem(generator, torch.bfloat16, "cuda")
    torch.library.opcheck(torch.ops.ropekit.rotary_embedding.default,
                          (positions, query, key, head_size, cache, True))
    torch.library.opcheck(torch.ops.ropekit.rotary_embedding_functional.default,
                          (positions, query, key, head_size, cache, True, False))
    static_query = query.clone()
    graph = torch.cuda.CUDAGraph()
    torch.cuda.synchronize()
    with torch.cuda.graph(graph):
        torch.ops.ropekit.rotary_embedding(positions, static_query, None, head_size, cache, True)
    static_query.copy_(query)
    graph.replay()
    torch.cuda.synchronize()
    check(static_query, query, positions, head_size, cache, True, "bfloat16", "query")
