"""No host synchronisation in a forward or training step of any registered network.

On a GPU, an operator whose result the host must read (``.item()``, ``if tensor:``, ``nonzero``,
``unique``...) stalls the Python thread until the device has finished all queued work, which
serialises the step and breaks CUDA graphs. Such operators reach the dispatcher as a handful of
aten ops; a dispatch mode records every op of an eval forward and of a training step
(forward, cross-entropy, backward) of the full-size networks on the meta device, and none may be one of them.
L-SNet's eval forward finds its RoIs in the data and does synchronise by design; on the meta
device it takes its one-RoI counting path, so only its training forward is meaningful here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from svseg.networks import create_network, list_networks

SYNCING_OPS = {"aten._local_scalar_dense.default", "aten.is_nonzero.default", "aten.nonzero.default",
               "aten.equal.default", "aten.masked_select.default", "aten._unique2.default",
               "aten.unique_dim.default", "aten.unique_consecutive.default", "aten.repeat_interleave.Tensor",
               "aten.allclose.default", "aten.item.default"}


class SyncRecorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.syncing: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if str(func) in SYNCING_OPS:
            self.syncing.append(str(func))
        return func(*args, **(kwargs or {}))


def _first_tensor(output: Any) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (list, tuple)):
        return _first_tensor(output[0])
    return _first_tensor(getattr(output, dataclasses.fields(output)[0].name))


@pytest.mark.parametrize("name", list_networks())
def test_forward_and_training_step_never_wait_for_the_device(name: str) -> None:
    size = 64 if name.startswith("m2snet") else 32
    with torch.device("meta"):
        model = create_network(name, 3, 2, patch_size=[size, size])
    x = torch.zeros(2, 3, size, size, device="meta")
    recorder = SyncRecorder()
    with recorder:
        with torch.no_grad():
            model.eval()(x)
        logits = _first_tensor(model.train()(x))
        target = torch.zeros((2, *logits.shape[2:]), dtype=torch.long, device="meta")
        F.cross_entropy(logits, target.clamp(max=logits.shape[1] - 1)).backward()
    assert recorder.syncing == []


def test_the_recorder_sees_item_and_data_dependent_branches() -> None:
    recorder = SyncRecorder()
    x = torch.ones(3)
    with recorder:
        x.sum().item()
        if x.max() > 0:
            torch.nonzero(x)
    assert recorder.syncing == ["aten._local_scalar_dense.default"] * 2 + ["aten.nonzero.default"]
