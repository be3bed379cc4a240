"""Load ImageNet ResNet-50 weights (torchvision key format) from a local file into an encoder.

The paper initialises the encoder from torchvision's ResNet-50 (svanet.md §12). svseg never
downloads: the user points `pretrained=` at a file such as torchvision's `resnet50-11ad3fa6.pth`.
Keys are matched by name (the encoder uses torchvision's attribute names); the classifier `fc.*`
is ignored. A first conv with 3 input channels is adapted to other channel counts: summed over RGB
for 1 channel (a grey image fed as R = G = B gives exactly the same activations), otherwise tiled
and rescaled by 3 / C so the expected response to a constant image is unchanged. Anything else that
does not fit is a user error with one clear line. The same loader fills a ResNeXt encoder
(STS-Net) from torchvision's `resnext50_32x4d` file, and skips the BatchNorm running statistics
for norm layers that keep none (InstanceNorm), whose affine weights still load.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from svseg.errors import SvsegError
from svseg.utils.torch_files import PRETRAINED, load_torch_file

_WRAPPER_KEYS = ("state_dict", "model")
_OPTIONAL_SUFFIX = "num_batches_tracked"
_RUNNING_STATS = ("running_mean", "running_var", "num_batches_tracked")


def adapt_first_conv(weight: torch.Tensor, input_channels: int) -> torch.Tensor:
    """Map an RGB first-conv weight (O, 3, k, k) to (O, input_channels, k, k)."""
    if weight.shape[1] == input_channels:
        return weight
    if weight.shape[1] != 3:
        raise ValueError(f"can only adapt an RGB first conv, got {weight.shape[1]} input channels")
    if input_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    index = torch.arange(input_channels) % 3
    return weight[:, index] * (3.0 / input_channels)


def read_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """Read a state dict (optionally wrapped in `state_dict`/`model`, keys maybe `module.`-prefixed)."""
    path = Path(path)
    if not path.exists():
        raise SvsegError(f"{path}: pretrained weights file not found (svseg never downloads weights)")
    state = load_torch_file(path, "cpu", PRETRAINED)  # weights-only; unsafe files refused
    for key in _WRAPPER_KEYS:
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SvsegError(f"{path}: is not a state dict of tensors (expected torchvision's resnet50 format)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_resnet_weights(encoder: nn.Module, path: Path | str, first_conv: str = "conv1.weight") -> None:
    """Copy a torchvision-format ResNet state dict from `path` into `encoder` (in place).

    Raises SvsegError naming the file when keys are missing or unexpected or shapes differ (for
    example a width multiplier or depths other than ResNet-50's).
    """
    expected = encoder.state_dict()
    state = {
        k: v
        for k, v in read_state_dict(path).items()
        if not k.startswith("fc.") and (k in expected or not k.endswith(_RUNNING_STATS))
    }
    load_fitting_state(
        encoder, state, path, first_conv,
        "the ResNet encoder",
        f"expected torchvision's {getattr(encoder, 'reference_name', 'resnet50')} state dict and an encoder "
        "built with width 1 and depths (3, 4, 6, 3)",
    )


def load_fitting_state(
    encoder: nn.Module, state: dict[str, torch.Tensor], path: Path | str, first_conv: str, target: str, expected: str
) -> None:
    """Load `state` into `encoder` when every key and shape fits (RGB first conv adapted), else one clear error.

    `target` names the encoder and `expected` says which published file fits, for the message.
    """
    wanted_state = encoder.state_dict()
    if first_conv in state and first_conv in wanted_state and state[first_conv].ndim == 4:
        wanted = wanted_state[first_conv].shape[1]
        if state[first_conv].shape[1] == 3 and wanted != 3:
            state = {**state, first_conv: adapt_first_conv(state[first_conv], wanted)}
    missing = [k for k in wanted_state if k not in state and not k.endswith(_OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in wanted_state]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(wanted_state[k].shape)}"
        for k in wanted_state
        if k in state and state[k].shape != wanted_state[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
    if mismatched:
        problems.append(f"{len(mismatched)} shapes differ (e.g. {mismatched[0]})")
    if problems:
        raise SvsegError(f"{path}: does not fit {target}: {'; '.join(problems)}; {expected}")
    encoder.load_state_dict(state, strict=False)
