"""Autograd of torch.ops.ropekit.rotary_embedding_functional: backward is the inverse rotation."""
import pytest

torch = pytest.importorskip("torch")
import ropekit.torch_ops  # noqa: E402,F401
from test_torch_ops import make_problem, torch_cache  # noqa: E402

# gradcheck warns that float32 inputs are not double; the tolerances below account for that.
pytestmark = pytest.mark.filterwarnings("ignore:Input #.* not a double precision")


@pytest.fixture
def generator(rng):
    return torch.Generator().manual_seed(int(rng.integers(2 ** 62)))


def rotate(positions, query, key, head_size, cache, is_neox, inverse=False):
    return torch.ops.ropekit.rotary_embedding_functional(positions, query, key, head_size, cache,
                                                         is_neox, inverse)


@pytest.mark.parametrize("is_neox,inverse", [(True, False), (False, False), (True, True)])
def test_gradcheck_float32(generator, is_neox, inverse):
    """torch.autograd.gradcheck on float32 (the library has no float64 kernels).

    The op is linear in (query, key), so central differences are exact up to rounding: with
    eps = 1e-2 each numerical derivative carries ~|x| * 2^-24 / eps ~ 1e-5 of float32 rounding
    error per input of size ~1; atol 1e-3 and rtol 1e-3 leave that a 100x margin while a wrong
    gradient (sign of sin, wrong pair, missing pass-through) is off by O(1)."""
    positions, query, key, head_size, cache = make_problem(
        generator, torch.float32, tokens=3, num_heads=2, num_kv_heads=1, head_size=16, rotary_dim=8)
    query.requires_grad_()
    key.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda q, k: rotate(positions, q, k, head_size, cache, is_neox, inverse), (query, key),
        eps=1e-2, atol=1e-3, rtol=1e-3, nondet_tol=0.0)


def test_backward_is_the_inverse_rotation_of_the_gradients(generator):
    positions, query, key, head_size, cache = make_problem(generator, torch.bfloat16, tokens=6)
    query.requires_grad_()
    key.requires_grad_()
    query_out, key_out = rotate(positions, query, key, head_size, cache, True)
    grad_query = torch.randn(query_out.shape, generator=generator).to(torch.bfloat16)
    grad_key = torch.randn(key_out.shape, generator=generator).to(torch.bfloat16)
    torch.autograd.backward((query_out, key_out), (grad_query, grad_key))

    expected_q, expected_k = rotate(positions, grad_query, grad_key, head_size, cache, True,
                                    inverse=True)
    assert torch.equal(query.grad, expected_q) and torch.equal(key.grad, expected_k)
    # And the inverse undoes the forward rotation: float32 round trip, within a few float32
    # roundings of the largest element (a float32 cache: cos^2 + sin^2 = 1 up to ~2^-23).
    q32 = query.detach().float()
    cache32 = torch_cache(cache.shape[0], cache.shape[1], 10000.0, torch.float32)
    there, _ = rotate(positions, q32, None, head_size, cache32, True)
    back, _ = rotate(positions, there, None, head_size, cache32, True, inverse=True)
    assert torch.allclose(back, q32, rtol=0, atol=16 * 2.0 ** -24 * q32.abs().max().item())


def test_gradient_through_sum_and_query_only(generator):
    """.sum() yields a stride-0 gradient: the backward must make it contiguous."""
    positions, query, _, head_size, cache = make_problem(generator, torch.float32, with_key=False)
    query.requires_grad_()
    query_out, key_out = rotate(positions, query, None, head_size, cache, False)
    assert key_out is None
    query_out.sum().backward()
    expected, _ = rotate(positions, torch.ones_like(query), None, head_size, cache, False,
                         inverse=True)
    assert torch.equal(query.grad, expected)


def test_double_backward(generator):
    positions, query, key, head_size, cache = make_problem(
        generator, torch.float32, tokens=2, num_heads=1, num_kv_heads=1, head_size=8, rotary_dim=8)
    query.requires_grad_()
    key.requires_grad_()
    assert torch.autograd.gradgradcheck(
        lambda q, k: rotate(positions, q, k, head_size, cache, True), (query, key),
        eps=1e-2, atol=1e-3, rtol=1e-3)
