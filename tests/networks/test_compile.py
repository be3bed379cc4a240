"""torch.compile with the inductor backend (the GPU's default path) on the CPU: SvANet compiles into one
graph, gives eager's numbers, and never recompiles when MCAttn draws another pool size.

test_svanet.py checks graph breaks with ``torch._dynamo.explain`` and the eager backend; this file
runs the real code generator (inductor, C++ on the CPU, Triton on a GPU) and counts compiled graphs
with dynamo's own counter (``counters["stats"]["unique_graphs"]``): after the first call of a mode,
further calls must add none. The official SvANet recompiles on every new pool size (its MCAttn draws
the size in Python); svseg's draws on the device, which is what the training-mode calls check, with
``fallback_random`` so the compiled graph draws the same random numbers as eager and the outputs
can be compared.

All slow: inductor compiles one C++ kernel per fused op group, 10-15 minutes per graph on the
shared 2-core CPU (svanet_tiny's eval forward: 744 s wall, 200 s CPU, at load average 8). The
activation-checkpointing tests only trace (``torch._dynamo.explain``, about a minute each).
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from svseg.networks import create_network

pytestmark = pytest.mark.slow


def _unique_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def _fresh_compile(model: torch.nn.Module) -> torch.nn.Module:
    import torch._dynamo

    torch._dynamo.reset()
    return torch.compile(model, backend="inductor", fullgraph=True)


@pytest.mark.parametrize(("name", "batch", "size"), [("svanet_tiny", 2, 64), ("svanet", 1, 64)])
def test_inductor_eval_forward_matches_eager_in_one_graph(name: str, batch: int, size: int) -> None:
    model = create_network(name, 3, 2).eval()
    x = torch.randn(batch, 3, size, size)
    compiled = _fresh_compile(model)
    with torch.no_grad():
        expected = model(x)
        got = compiled(x)
        assert _unique_graphs() == 1
        for _ in range(2):
            compiled(torch.randn_like(x))
    assert _unique_graphs() == 1  # no recompile after the first call
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_inductor_training_steps_reuse_one_graph_across_random_pool_sizes() -> None:
    import torch._inductor.config

    model = create_network("svanet_tiny", 3, 2).train()
    x = torch.randn(2, 3, 64, 64)
    target = torch.randint(0, 2, (2, 64, 64))
    with torch._inductor.config.patch(fallback_random=True):
        compiled = _fresh_compile(model)
        for step in range(5):  # 5 draws of MCAttn's pool size in {1, 2, 3} and of SvAttn's mosaic
            torch.manual_seed(step)
            loss = F.cross_entropy(compiled(x), target)
            loss.backward()
            compiled_grads = torch.cat([p.grad.flatten() for p in model.parameters()])
            model.zero_grad(set_to_none=True)
            torch.manual_seed(step)
            F.cross_entropy(model(x), target).backward()
            eager_grads = torch.cat([p.grad.flatten() for p in model.parameters()])
            model.zero_grad(set_to_none=True)
            # Same random draws (else whole gradients would differ); inductor's fused reductions round
            # differently, which ~100 layers of backward amplify to a few 1e-5 in single elements.
            assert F.cosine_similarity(compiled_grads, eager_grads, dim=0) > 0.9999
            assert (compiled_grads - eager_grads).abs().max() <= 1e-3 * eager_grads.abs().max()
    assert _unique_graphs() == 1


@pytest.mark.parametrize("mode", ["assemformer", "stages"])
def test_activation_checkpointing_keeps_one_graph(mode: str) -> None:
    from torch import _dynamo

    model = create_network("svanet_tiny", 3, 2, activation_checkpointing=mode).train()
    _dynamo.reset()
    explanation = _dynamo.explain(model)(torch.randn(2, 3, 64, 64))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1
