"""Fallbacks of torch.ops.ropekit: ROPEKIT_BACKEND forces a backend (reference and cpu agree), and
the Python kernels (used when _torch_kernels.so is missing or built for another torch) give the
same bits as the C++ kernels and pass opcheck."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import ropekit.torch_ops  # noqa: E402,F401
from conftest import rotate_oracle, tolerance  # noqa: E402
from test_torch_ops import as_float64, check, make_problem  # noqa: E402


@pytest.fixture
def generator(rng):
    return torch.Generator().manual_seed(int(rng.integers(2 ** 62)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_forced_reference_and_cpu_agree(generator, monkeypatch, dtype):
    dtype_name = str(dtype).removeprefix("torch.")
    positions, query, key, head_size, cache = make_problem(generator, dtype, tokens=40)
    results = {}
    for backend in ("reference", "cpu"):
        monkeypatch.setenv("ROPEKIT_BACKEND", backend)
        q, k = query.clone(), key.clone()
        torch.ops.ropekit.rotary_embedding(positions, q, k, head_size, cache, True)
        check(q, query, positions, head_size, cache, True, dtype_name, f"query ({backend})")
        check(k, key, positions, head_size, cache, True, dtype_name, f"key ({backend})")
        results[backend] = q
    expected, magnitude = rotate_oracle(as_float64(query), positions.numpy(), head_size,
                                        as_float64(cache), True)
    difference = np.abs(as_float64(results["reference"]) - as_float64(results["cpu"]))
    assert np.all(difference <= 2 * tolerance(dtype_name, expected, magnitude))


PYTHON_KERNELS_SCRIPT = textwrap.dedent("""
    import sys, torch, ropekit.torch_ops as ops
    assert ops.KERNELS == "python", ops.KERNELS
    positions, query, key, cache = torch.load(sys.argv[1])
    functional = torch.ops.ropekit.rotary_embedding_functional(positions, query, key, 64, cache,
                                                               True, True)
    torch.ops.ropekit.rotary_embedding(positions, query, key, 64, cache, False)
    mrope_query = query.clone()
    torch.ops.ropekit.mrope_rotary_embedding(positions.expand(3, -1) % 7, mrope_query, None, 64,
                                             cache, [8, 12, 12], True)
    for op, args in ((torch.ops.ropekit.rotary_embedding.default,
                      (positions, query.clone(), key.clone(), 64, cache, True)),
                     (torch.ops.ropekit.rotary_embedding_functional.default,
                      (positions, query.clone().requires_grad_(), None, 64, cache, True, False))):
        torch.library.opcheck(op, args)
    try:
        torch.ops.ropekit.rotary_embedding(positions, query, key, 63, cache, True)
        message = None
    except ValueError as error:
        message = str(error)
    torch.save((query, key, functional, mrope_query, message), sys.argv[2])
""")


def test_python_kernels_match_the_cpp_kernels(generator, tmp_path, monkeypatch):
    if ropekit.torch_ops.KERNELS != "c++":
        pytest.skip("the C++ kernels are not loaded here: nothing to compare with")
    positions, query, key, head_size, cache = make_problem(generator, torch.bfloat16, tokens=9)
    torch.save((positions, query, key, cache), tmp_path / "inputs.pt")
    # (reference backend: the one with mrope so far; every op gives the same bits on either.)
    environment = dict(os.environ, ROPEKIT_TORCH_KERNELS="python", ROPEKIT_BACKEND="reference")
    monkeypatch.setenv("ROPEKIT_BACKEND", "reference")
    subprocess.run([sys.executable, "-c", PYTHON_KERNELS_SCRIPT, str(tmp_path / "inputs.pt"),
                    str(tmp_path / "outputs.pt")], env=environment, check=True)
    python_query, python_key, python_functional, python_mrope, python_message = torch.load(
        tmp_path / "outputs.pt")

    functional = torch.ops.ropekit.rotary_embedding_functional(positions, query, key, 64, cache,
                                                               True, True)
    torch.ops.ropekit.rotary_embedding(positions, query, key, 64, cache, False)
    mrope_query = query.clone()
    torch.ops.ropekit.mrope_rotary_embedding(positions.expand(3, -1) % 7, mrope_query, None, 64,
                                             cache, [8, 12, 12], True)
    assert torch.equal(python_query, query) and torch.equal(python_key, key)
    assert all(torch.equal(a, b) for a, b in zip(python_functional, functional))
    with pytest.raises(ValueError) as raised:
        torch.ops.ropekit.rotary_embedding(positions, query, key, 63, cache, True)
    assert python_message == str(raised.value)
