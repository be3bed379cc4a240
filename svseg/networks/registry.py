"""The network registry: networks are found by name and built from plain-JSON kwargs.

timm-style (house rule R3, docs/design/style.md): each registered name maps to a *recipe*, a plain function that turns
a few overrides (and, where the topology depends on them, the patch size and spacing) into the
complete keyword arguments of one network class, as plain JSON. Both ways of building a network
go through that one recipe, so they cannot drift apart:

- `create_network(name, ...)` instantiates the class directly;
- `architecture_block(name, ...)` writes the same class path and kwargs as an nnU-Net plans
  "architecture" block, which nnU-Net's own `get_network_from_plans` turns into the same network.

nnU-Net resolves `network_class_name` with `pydoc.locate`, so a plans file could import anything;
`check_architecture_block` is the gate that only lets registered classes (and torch.nn classes for
the `_kw_requires_import` entries) through. Registering a name twice is a bug and raises.
"""

from __future__ import annotations

import fnmatch
import pydoc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from svseg.errors import SvsegError

Recipe = Callable[..., dict[str, Any]]

_IMPORTABLE_PREFIX = "torch.nn."


@dataclass(frozen=True)
class NetworkEntry:
    """One registered network: its class, the recipe for its kwargs and the kwargs nnU-Net imports."""

    name: str
    network_class: type[nn.Module]
    recipe: Recipe
    requires_import: tuple[str, ...] = ()

    @property
    def class_path(self) -> str:
        """Dotted path written to plans (`module.Class`), what nnU-Net's `pydoc.locate` resolves."""
        return f"{self.network_class.__module__}.{self.network_class.__qualname__}"

    @property
    def supports_deep_supervision(self) -> bool:
        """nnU-Net networks support deep supervision unless their class says otherwise."""
        return bool(getattr(self.network_class, "supports_deep_supervision", True))


_REGISTRY: dict[str, NetworkEntry] = {}


def register_network(
    name: str, network_class: type[nn.Module], requires_import: Sequence[str] = ()
) -> Callable[[Recipe], Recipe]:
    """File `recipe` under `name`, building `network_class`. A second claim on a name raises ValueError."""

    def add(recipe: Recipe) -> Recipe:
        if name in _REGISTRY:
            raise ValueError(f"network {name!r} is registered twice")
        _REGISTRY[name] = NetworkEntry(name, network_class, recipe, tuple(requires_import))
        return recipe

    return add


def list_networks(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style wildcard pattern, sorted."""
    return sorted(fnmatch.filter(_REGISTRY, pattern))


def is_network(name: str) -> bool:
    """Whether `name` is a registered network."""
    return name in _REGISTRY


def network_entry(name: str) -> NetworkEntry:
    """The registry entry for `name`; an unknown name is a user error."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SvsegError(f"unknown network {name!r}; known: {', '.join(list_networks())}") from None


def _drop_none(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Drop None-valued kwargs so that each recipe keeps its own defaults (timm's create_model rule)."""
    return {k: v for k, v in kwargs.items() if v is not None}


def to_plain_json(value: Any) -> Any:
    """Tuples -> lists, numpy scalars -> Python numbers, paths -> str; reject anything else non-JSON."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): to_plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and not isinstance(value, str)):
        items = value.tolist() if hasattr(value, "tolist") else value
        return [to_plain_json(v) for v in items]
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"architecture kwarg value {value!r} is not plain JSON")


def _instantiate(
    network_class: type[nn.Module],
    arch_kwargs: Mapping[str, Any],
    requires_import: Sequence[str],
    input_channels: int,
    num_classes: int,
    deep_supervision: bool,
) -> nn.Module:
    """Build the network exactly as nnU-Net's `get_network_from_plans` does (imports, call, init hook)."""
    kwargs = dict(arch_kwargs)
    for key in requires_import:
        if kwargs.get(key) is not None:
            kwargs[key] = pydoc.locate(kwargs[key])
    network = network_class(
        input_channels=input_channels, num_classes=num_classes, deep_supervision=deep_supervision, **kwargs
    )
    if hasattr(network, "initialize"):
        network.apply(network.initialize)
    return network


def create_network(
    name: str, input_channels: int, num_classes: int, deep_supervision: bool = False, **kwargs: Any
) -> nn.Module:
    """Build registered network `name` for `input_channels` -> `num_classes` logits.

    `kwargs` override the recipe's defaults (None values are dropped). The result equals what
    nnU-Net builds from `architecture_block(name, ...)` with the same kwargs.
    """
    entry = network_entry(name)
    arch_kwargs = to_plain_json(entry.recipe(**_drop_none(kwargs)))
    return _instantiate(
        entry.network_class, arch_kwargs, entry.requires_import, input_channels, num_classes, deep_supervision
    )


def architecture_block(
    name: str,
    patch_size: Sequence[int],
    spacing: Sequence[float],
    input_channels: int,
    num_classes: int,
    **kwargs: Any,
) -> dict[str, Any]:
    """nnU-Net plans "architecture" block for network `name` at this patch size and spacing.

    Returns {"network_class_name", "arch_kwargs", "_kw_requires_import"}, all plain JSON. The
    channel and class counts are not stored (nnU-Net passes them at build time) but are checked so
    a planner bug surfaces here rather than at training time.
    """
    if int(input_channels) < 1 or int(num_classes) < 1:
        raise SvsegError(
            f"network {name!r}: need at least 1 input channel and 1 class, got {input_channels}, {num_classes}"
        )
    entry = network_entry(name)
    arch_kwargs = entry.recipe(patch_size=patch_size, spacing=spacing, **_drop_none(kwargs))
    return {
        "network_class_name": entry.class_path,
        "arch_kwargs": to_plain_json(arch_kwargs),
        "_kw_requires_import": list(entry.requires_import),
    }


def registered_class_paths() -> set[str]:
    """Dotted class paths that plans may name."""
    return {entry.class_path for entry in _REGISTRY.values()}


def check_architecture_block(block: Mapping[str, Any]) -> None:
    """Refuse a plans architecture block that names anything but a registered architecture.

    Also refuses `_kw_requires_import` values outside torch.nn, because nnU-Net imports those
    strings too. Raises SvsegError; returns None when the block is safe to hand to nnU-Net.
    """
    if not isinstance(block, Mapping):
        raise SvsegError(f"plans architecture block must be a mapping, got {type(block).__name__}")
    class_path = block.get("network_class_name")
    registered = registered_class_paths()
    if class_path not in registered:
        raise SvsegError(
            f"plans name network class {class_path} which is not a registered svseg architecture; "
            f"registered: {', '.join(sorted(registered))}"
        )
    arch_kwargs = block.get("arch_kwargs", {})
    if not isinstance(arch_kwargs, Mapping):
        raise SvsegError(f"plans arch_kwargs of {class_path} must be a mapping, got {type(arch_kwargs).__name__}")
    for key in block.get("_kw_requires_import", ()):
        value = arch_kwargs.get(key)
        if value is not None and not (isinstance(value, str) and value.startswith(_IMPORTABLE_PREFIX)):
            raise SvsegError(
                f"plans arch_kwargs[{key!r}] of {class_path} = {value!r} is not a torch.nn class path; "
                "refusing to import it"
            )


def network_supports_deep_supervision(name_or_class_path: str) -> bool:
    """Whether the network (registered name or registered class path) returns deep-supervision outputs."""
    if name_or_class_path in _REGISTRY:
        return _REGISTRY[name_or_class_path].supports_deep_supervision
    for entry in _REGISTRY.values():
        if entry.class_path == name_or_class_path:
            return entry.supports_deep_supervision
    raise SvsegError(
        f"{name_or_class_path!r} is neither a registered network name nor a registered class path; "
        f"names: {', '.join(list_networks())}"
    )
