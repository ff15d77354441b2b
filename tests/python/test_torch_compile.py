"""A small attention block using torch.ops.ropekit compiles with fullgraph=True (no graph break)
and computes what eager mode does."""
import pytest

torch = pytest.importorskip("torch")
import ropekit  # noqa: E402
import ropekit.torch_ops  # noqa: E402,F401

HIDDEN, NUM_HEADS, NUM_KV_HEADS, HEAD_SIZE = 64, 4, 2, 16


class Attention(torch.nn.Module):
    """Llama-style: fused qkv projection, RoPE on the q/k slices, GQA causal attention."""

    def __init__(self, functional):
        super().__init__()
        self.functional = functional
        self.qkv = torch.nn.Linear(HIDDEN, (NUM_HEADS + 2 * NUM_KV_HEADS) * HEAD_SIZE, bias=False)
        self.out = torch.nn.Linear(NUM_HEADS * HEAD_SIZE, HIDDEN, bias=False)
        self.rope = ropekit.RotaryEmbedding(HEAD_SIZE, HEAD_SIZE, max_position=256, base=10000.0)

    def forward(self, positions, hidden):
        q, k, v = self.qkv(hidden).split(
            [NUM_HEADS * HEAD_SIZE, NUM_KV_HEADS * HEAD_SIZE, NUM_KV_HEADS * HEAD_SIZE], dim=-1)
        if self.functional:  # out of place, differentiable
            q, k = torch.ops.ropekit.rotary_embedding_functional(
                positions, q, k, HEAD_SIZE, self.rope.cos_sin_cache, True)
        else:  # in place on the slices of the qkv output, as vLLM does
            q, k = self.rope(positions, q, k)
        tokens = hidden.shape[0]
        q = q.reshape(tokens, NUM_HEADS, HEAD_SIZE).transpose(0, 1)
        k = k.reshape(tokens, NUM_KV_HEADS, HEAD_SIZE).transpose(0, 1)
        v = v.reshape(tokens, NUM_KV_HEADS, HEAD_SIZE).transpose(0, 1)
        groups = NUM_HEADS // NUM_KV_HEADS
        k = k.repeat_interleave(groups, dim=0)
        v = v.repeat_interleave(groups, dim=0)
        attended = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(attended.transpose(0, 1).reshape(tokens, NUM_HEADS * HEAD_SIZE))


def inputs(rng, tokens=12):
    generator = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
    positions = torch.randint(0, 256, (tokens,), generator=generator)
    hidden = torch.randn(tokens, HIDDEN, generator=generator)
    return positions, hidden


@pytest.mark.parametrize("functional,backend", [(False, "inductor"), (True, "inductor"),
                                                (False, "aot_eager")])
def test_attention_block_compiles_without_graph_break(rng, functional, backend):
    torch.manual_seed(int(rng.integers(2 ** 31)))
    torch._dynamo.reset()
    block = Attention(functional)
    positions, hidden = inputs(rng)
    with torch.no_grad():
        eager = block(positions, hidden)
        compiled = torch.compile(block, fullgraph=True, backend=backend)(positions, hidden)
    # Same kernels for RoPE; the projections and attention may be fused or reordered by inductor:
    # float32 rounding of sums of 64 products of size ~1.
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)


def test_compiled_training_step_matches_eager_gradients(rng):
    torch.manual_seed(int(rng.integers(2 ** 31)))
    torch._dynamo.reset()
    block = Attention(functional=True)
    positions, hidden = inputs(rng)
    hidden.requires_grad_()
    block(positions, hidden).square().sum().backward()
    eager_grad = hidden.grad.clone()
    hidden.grad = None
    torch.compile(block, fullgraph=True, backend="aot_eager")(positions, hidden).square().sum().backward()
    torch.testing.assert_close(hidden.grad, eager_grad, rtol=1e-5, atol=1e-5)


def test_rotary_embedding_module_with_another_dtype_compiles_after_warmup(rng):
    """The module memoizes a cache per (device, dtype); once built, the lookup traces."""
    torch._dynamo.reset()
    rope = ropekit.RotaryEmbedding(HEAD_SIZE, HEAD_SIZE, 256, dtype=torch.float32)
    positions, _ = inputs(rng)
    query = torch.randn(positions.shape[0], NUM_HEADS * HEAD_SIZE).to(torch.bfloat16)
    eager = rope(positions, query.clone())[0]  # builds the bfloat16 cache
    compiled = torch.compile(rope, fullgraph=True, backend="aot_eager")(positions, query.clone())[0]
    assert torch.equal(compiled, eager)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")
@pytest.mark.parametrize("functional", [False, True])
def test_compiled_attention_block_runs_under_cuda_graph_capture(rng, functional):
    """On the GPU: fullgraph compile, then capture the compiled block in a CUDA graph and replay it
    on new inputs copied into the captured buffers; every replay matches eager mode."""
    if "cuda" not in ropekit.available_backends():
        pytest.skip("this build of ropekit has no CUDA backend")
    torch.manual_seed(int(rng.integers(2 ** 31)))
    torch._dynamo.reset()
    block = Attention(functional).cuda()
    compiled = torch.compile(block, fullgraph=True, backend="inductor")
    positions, hidden = (t.cuda() for t in inputs(rng))
    static_positions, static_hidden = positions.clone(), hidden.clone()
    with torch.no_grad():
        side = torch.cuda.Stream()  # warm up (compile, autotune, allocate) off the default stream
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                compiled(static_positions, static_hidden)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = compiled(static_positions, static_hidden)
        for _ in range(3):
            new_positions, new_hidden = (t.cuda() for t in inputs(rng))
            static_positions.copy_(new_positions)
            static_hidden.copy_(new_hidden)
            graph.replay()
            torch.cuda.synchronize()
            torch.testing.assert_close(static_out, block(new_positions, new_hidden),
                                       rtol=1e-4, atol=1e-4)
