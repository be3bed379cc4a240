"""bf16 autocast of every registered network on the CPU: the path nnU-Net's trainer takes on a GPU.

On CUDA nnU-Net trains and predicts under ``torch.autocast``; CI has no GPU, but CPU autocast runs
the same dispatch (convolutions and matrix products in bfloat16, reductions and softmax as each
network asks). For every name in ``list_networks()`` (new networks are covered without editing this
file) a small input goes forward and backward in training mode under bf16 autocast (everything
finite, the same parameters receive gradients as in float32), and then the float32 run is the
independent reference for a deterministic forward + backward:

- outputs: max |bf16 - fp32| <= 8 % of max |fp32| (bfloat16 keeps 8 significant bits, 0.4 % per
  rounding, compounded over 50-200 layers; the worst network measured 4.6 %, nnU-Net's U-Net);
- gradients of a fixed random projection of the outputs: cosine similarity >= 0.9 with float32
  over all parameters together (measured 0.955-1.0). Single tensors are not compared: a conv bias in
  front of InstanceNorm has a true gradient of zero, so its float32 value is rounding noise.

The deterministic pass is eval mode (MCAttn is then global pooling, dropout and DropPath are off,
BatchNorm uses running statistics, warmed up first), except where eval mode has no gradient at all
(L-SNet predicts under no_grad): then training mode, which for L-SNet without objects is
deterministic. Networks that take more than ~30 s per test on a 2-core CPU are marked slow.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
import torch
from torch import nn

from svseg.errors import SvsegError
from svseg.networks import create_network, list_networks

SIZES = ((32, 32), (64, 64))
"""Each network runs at the first of these it accepts (M2SNet's InstanceNorm encoder needs 64)."""
OUTPUT_TOLERANCE = 0.08
GRADIENT_COSINE = 0.9
CPU_HEAVY = {"svanet", "sosegformer_like", "sts_net"}
"""Full-size networks whose fp32 + bf16 passes take 20-50 s at 64 x 64 on one core (measured)."""


def _tensors(output: Any) -> list[torch.Tensor]:
    """Every floating-point tensor in a network's output (tensor, tuple/list, or dataclass)."""
    if isinstance(output, torch.Tensor):
        return [output] if output.is_floating_point() else []
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _tensors(item)]
    if dataclasses.is_dataclass(output):
        return [t for f in dataclasses.fields(output) for t in _tensors(getattr(output, f.name))]
    return []


def _forward_backward(model: nn.Module, x: torch.Tensor, bf16: bool) -> tuple[list[torch.Tensor], dict]:
    """Outputs (as float32) and parameter gradients of sum_k <P_k, output_k> for fixed projections P_k."""
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        outputs = _tensors(model(x))
    generator = torch.Generator().manual_seed(7)
    projection = sum((o.float() * torch.randn(o.shape, generator=generator)).sum() for o in outputs)
    if projection.requires_grad:
        projection.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return [o.detach().float() for o in outputs], grads


def _smallest_network(name: str) -> tuple[nn.Module, tuple[int, int]]:
    for size in SIZES:
        try:
            return create_network(name, 3, 2, patch_size=list(size)), size
        except SvsegError:
            continue
    raise AssertionError(f"{name} accepts none of the test sizes {SIZES}")


def _cases() -> list[Any]:
    return [pytest.param(n, marks=pytest.mark.slow) if n in CPU_HEAVY else n for n in list_networks()]


@pytest.mark.parametrize("name", _cases())
def test_bf16_autocast_forward_backward_is_finite_and_close_to_float32(name: str) -> None:
    model, size = _smallest_network(name)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        for _ in range(2):  # realistic BatchNorm running statistics for the eval pass
            model.train()(x)
    state = copy.deepcopy(model.state_dict())

    outputs, grads = _forward_backward(model.train(), x, bf16=True)
    assert outputs and all(torch.isfinite(o).all() for o in outputs)
    assert grads and all(torch.isfinite(g).all() for g in grads.values())
    model.load_state_dict(state)
    _, fp32_train_grads = _forward_backward(model.train(), x, bf16=False)
    assert grads.keys() == fp32_train_grads.keys()

    model.load_state_dict(state)
    model.eval()
    with torch.enable_grad():
        eval_has_grad = any(o.requires_grad for o in _tensors(model(x)))
    model.train(not eval_has_grad)
    reference, reference_grads = _forward_backward(model, x, bf16=False)
    outputs, grads = _forward_backward(model, x, bf16=True)
    for got, expected in zip(outputs, reference, strict=True):
        assert (got - expected).abs().max() <= OUTPUT_TOLERANCE * expected.abs().max() + 1e-6
    assert grads.keys() == reference_grads.keys()
    flat = torch.cat([grads[k].flatten() for k in reference_grads])
    flat_reference = torch.cat([g.flatten() for g in reference_grads.values()])
    assert torch.nn.functional.cosine_similarity(flat, flat_reference, dim=0) >= GRADIENT_COSINE
