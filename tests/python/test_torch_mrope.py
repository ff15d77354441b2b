"""Multimodal RoPE (Qwen2-VL contiguous, Qwen3-VL interleaved sections): torch.ops.ropekit's
mrope op and the DLPack function, vs the float64 oracle, on every backend (forced through
ROPEKIT_BACKEND; cuda where a device and a CUDA build are present)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import ropekit  # noqa: E402
import ropekit.torch_ops  # noqa: E402,F401
from conftest import assert_matches_oracle, rotate_oracle  # noqa: E402
from test_torch_ops import as_float64, torch_cache  # noqa: E402

# (mrope_section, interleaved, head_size): Qwen2-VL's [16, 24, 24] and Qwen3-VL's [24, 20, 20].
SECTIONS = [((16, 24, 24), False, 128), ((24, 20, 20), True, 128), ((2, 3, 3), False, 16)]


@pytest.fixture
def generator(rng):
    return torch.Generator().manual_seed(int(rng.integers(2 ** 62)))


@pytest.fixture(params=["reference", "cpu", "cuda"])
def device(request, monkeypatch):
    """Forces one backend; returns the torch device its tensors live on."""
    if request.param == "cuda":
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device visible")
        if "cuda" not in ropekit.available_backends():
            pytest.skip("this build of ropekit has no CUDA backend")
    monkeypatch.setenv("ROPEKIT_BACKEND", request.param)
    return "cuda" if request.param == "cuda" else "cpu"


def mrope_problem(generator, head_size, dtype=torch.bfloat16, tokens=13, device="cpu"):
    positions = torch.randint(0, 2048, (3, tokens), generator=generator)
    cache = torch_cache(2048, head_size, 1000000.0, dtype)
    query = torch.randn(tokens, 4 * head_size, generator=generator).to(dtype)
    key = torch.randn(tokens, 2, head_size, generator=generator).to(dtype)
    return (t.to(device) for t in (positions, query, key, cache))


def check_mrope(got, original, positions, head_size, cache, sections, interleaved, what):
    expected, magnitude = rotate_oracle(as_float64(original.cpu()), positions.cpu().numpy(),
                                        head_size, as_float64(cache.cpu()), True,
                                        mrope_section=sections, mrope_interleaved=interleaved)
    assert_matches_oracle(as_float64(got.cpu()), expected, magnitude, "bfloat16", what)


@pytest.mark.parametrize("sections,interleaved,head_size", SECTIONS)
def test_mrope_op_matches_oracle(generator, device, sections, interleaved, head_size):
    positions, query, key, cache = mrope_problem(generator, head_size, device=device)
    query_in, key_in = query.clone(), key.clone()
    torch.ops.ropekit.mrope_rotary_embedding(positions, query, key, head_size, cache,
                                             list(sections), interleaved)
    check_mrope(query, query_in, positions, head_size, cache, sections, interleaved, "query")
    check_mrope(key, key_in, positions, head_size, cache, sections, interleaved, "key")


@pytest.mark.parametrize("sections,interleaved,head_size", SECTIONS[:2])
def test_mrope_dlpack_function_matches_oracle(generator, sections, interleaved, head_size):
    positions, query, _, cache = mrope_problem(generator, head_size)
    query_out = torch.full_like(query, float("nan"))
    ropekit.rotary_embedding(positions, query, None, head_size, cache, True, query_out=query_out,
                             mrope_section=sections, mrope_interleaved=interleaved,
                             backend="reference")
    check_mrope(query_out, query, positions, head_size, cache, sections, interleaved, "query_out")


def test_text_only_tokens_reduce_to_plain_rope(generator, device):
    positions, query, key, cache = mrope_problem(generator, 128, device=device)
    text_positions = positions[0].expand(3, -1).contiguous()  # three equal streams
    mrope_query, plain_query = query.clone(), query.clone()
    torch.ops.ropekit.mrope_rotary_embedding(text_positions, mrope_query, None, 128, cache,
                                             [16, 24, 24])
    torch.ops.ropekit.rotary_embedding(positions[0], plain_query, None, 128, cache, True)
    assert torch.equal(mrope_query, plain_query)


def test_mrope_opcheck(generator, device):
    positions, query, key, cache = mrope_problem(generator, 16, tokens=4, device=device)
    torch.library.opcheck(torch.ops.ropekit.mrope_rotary_embedding.default,
                          (positions, query, key, 16, cache, [2, 3, 3], False))


def test_mrope_errors_name_the_argument(generator, device):
    positions, query, key, cache = mrope_problem(generator, 16, device=device)
    with pytest.raises(ValueError, match="^mrope_section: expected 3 sizes"):
        torch.ops.ropekit.mrope_rotary_embedding(positions, query, key, 16, cache, [4, 4])
    with pytest.raises(ValueError, match="^mrope_section: "):
        torch.ops.ropekit.mrope_rotary_embedding(positions, query, key, 16, cache, [2, 2, 2])
    with pytest.raises(ValueError, match=r"^positions: with mrope_section expected shape \[3, T\]"):
        torch.ops.ropekit.mrope_rotary_embedding(positions[0], query, key, 16, cache, [2, 3, 3])
    with pytest.raises(ValueError, match="^mrope_section: expected 3 sizes"):
        ropekit.rotary_embedding(positions, query, key, 16, cache, True, mrope_section=[8])
