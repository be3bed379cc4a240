"""What every 2D network family's recipe does the same way: defaults, overrides, patch check.

A recipe turns a variant (the registered name's fixed choices) plus a user's overrides into the
complete keyword arguments of one class, written out in full so a plans file records the exact
network. The rules are shared so every family answers a typo or an unusable patch size with the
same kind of line: unknown option names are user errors (a typo in plans must not be silently
ignored), a patch must be 2D with sides that are positive multiples of the network's output
stride, and a ``pretrained`` path is kept only when set, as a string.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from svseg.errors import SvsegError


def keyword_defaults(network_class: type, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """The keyword-only arguments of ``network_class.__init__`` and their defaults: a family's options."""
    return {
        name: param.default
        for name, param in inspect.signature(network_class.__init__).parameters.items()
        if param.kind is inspect.Parameter.KEYWORD_ONLY and name not in exclude
    }


def check_options(family: str, options: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """Refuse override names the family does not have, listing the ones it has."""
    unknown = sorted(set(overrides) - set(options))
    if unknown:
        raise SvsegError(f"{family} has no option {', '.join(unknown)}; options: {', '.join(options)}")


def refuse_deep_supervision(family: str, deep_supervision: bool, why: str) -> None:
    """These families have one output; nnU-Net's deep supervision needs several, so asking for it is an error."""
    if deep_supervision:
        raise SvsegError(
            f"{family} has no deep-supervision outputs ({why}); build it with deep_supervision=False "
            "(svseg's trainer sets enable_deep_supervision=False for it)"
        )


def check_choice(family: str, name: str, value: str, choices: Sequence[str]) -> None:
    """Refuse a string option outside its choices."""
    if value not in choices:
        raise SvsegError(f"{family} {name}={value!r} is not one of {', '.join(choices)}")


def check_2d_patch(family: str, patch_size: Sequence[int] | None, stride: int) -> None:
    """A given patch must be 2D with sides that are positive multiples of ``stride``."""
    if patch_size is not None and (
        len(patch_size) != 2 or any(int(s) % stride or int(s) < stride for s in patch_size)
    ):
        raise SvsegError(
            f"{family} is 2D and needs patch sides that are positive multiples of {stride}; "
            f"got patch size {list(patch_size)}"
        )


def complete_kwargs(
    family: str,
    options: Mapping[str, Any],
    variant: Mapping[str, Any],
    overrides: Mapping[str, Any],
    patch_size: Sequence[int] | None,
    stride: int,
) -> dict[str, Any]:
    """Options, then the variant, then the overrides, checked; ``pretrained`` dropped when unset."""
    check_options(family, options, overrides)
    check_2d_patch(family, patch_size, stride)
    kwargs = {**options, **variant, **overrides}
    if "pretrained" in kwargs:
        if kwargs["pretrained"] is None:
            del kwargs["pretrained"]
        else:
            kwargs["pretrained"] = str(kwargs["pretrained"])
    return kwargs
