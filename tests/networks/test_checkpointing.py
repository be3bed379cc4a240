"""SvANet's activation checkpointing: same parameters, outputs and gradients, less kept for backward.

The reference is the same network with the same weights and the same random draws, checkpointing
off. The measured CPU memory of a training step with checkpointing is in
tests/planning/test_memory_measured.py; graph breaks under torch.compile in test_compile.py.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from svseg.errors import SvsegError
from svseg.networks import count_parameters, create_network
from svseg.networks.blocks import AssemFormer
from svseg.planning.memory import saved_bytes_per_image


def _train_step(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)  # the same MCAttn pool sizes, SvAttn mosaics, DropPath and dropout masks
    logits = model.train()(x)
    F.cross_entropy(logits, target).backward()
    return logits.detach(), torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.mark.parametrize("mode", ["assemformer", "stages"])
def test_checkpointing_keeps_outputs_and_gradients(mode: str) -> None:
    torch.manual_seed(0)
    plain = create_network("svanet_tiny", 3, 2)
    torch.manual_seed(0)  # the same construction-time SvAttn partitions
    checkpointed = create_network("svanet_tiny", 3, 2, activation_checkpointing=mode)
    checkpointed.load_state_dict(plain.state_dict())
    assert count_parameters(checkpointed) == count_parameters(plain)
    x, target = torch.randn(2, 3, 64, 64), torch.randint(0, 2, (2, 64, 64))
    expected_logits, expected_grads = _train_step(plain, x, target)
    logits, grads = _train_step(checkpointed, x, target)
    torch.testing.assert_close(logits, expected_logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads, expected_grads, rtol=1e-4, atol=1e-6)
    # the recomputation in backward leaves BatchNorm's running statistics and batch counters alone
    for (name, value), expected in zip(checkpointed.state_dict().items(), plain.state_dict().values(), strict=True):
        torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-7, msg=name)
    with torch.no_grad():
        torch.testing.assert_close(checkpointed.eval()(x), plain.eval()(x), rtol=1e-5, atol=1e-6)


def test_modes_switch_the_intended_blocks_and_keep_the_paper_parameter_count() -> None:
    for mode in ("none", "assemformer", "stages"):
        with torch.device("meta"):
            model = create_network("svanet", 3, 8, activation_checkpointing=mode)
        assert count_parameters(model) == 202_448_504
        formers = [m for m in model.modules() if isinstance(m, AssemFormer)]
        assert len(formers) == 8 and all(f.checkpoint == (mode == "assemformer") for f in formers)
        assert model.checkpoint_stages == model.decoder.checkpoint == (mode == "stages")


def test_checkpointing_cuts_the_bytes_autograd_keeps() -> None:
    saved = {mode: saved_bytes_per_image("svanet_tiny", {"activation_checkpointing": mode}, (128, 128), 3, 2)[1]
             for mode in ("none", "assemformer", "stages")}
    assert saved["stages"] < 0.6 * saved["none"]
    assert saved["stages"] < saved["assemformer"] < 0.8 * saved["none"]


def test_unknown_checkpointing_is_a_user_error() -> None:
    with pytest.raises(SvsegError, match="activation_checkpointing"):
        create_network("svanet_tiny", 3, 2, activation_checkpointing="everything")
