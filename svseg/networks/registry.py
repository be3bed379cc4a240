"""The network registry: networks are found by name and built from plain-JSON kwargs.

timm-style (house rule R3, docs/design/style.md): each registered name maps to a *recipe*, a plain function that turns
a few overrides (and, where the topology depends on them, the patch size and spacing) into the
complete keyword arguments of one network class, as plain JSON. Both ways of building a network
go through that one recipe, so they cannot drift apart:

- `create_network(name, ...)` instantiates the class directly;
- `architecture_block(name, ...)` writes the same class path and kwargs as an nnU-Net plans
  "architecture" block, which nnU-Net's own `get_network_from_plans` turns into the same network.

nnU-Net resolves `network_class_name` and every `_kw_requires_import` value with `pydoc.locate`,
which follows attribute chains (`torch.nn.functional.torch.os.system` is `os.system`), so a plans
file could run anything. `check_architecture_block` is the gate: the block must match a registered
entry field by field, every op name (`conv_op`, `norm_op`, `dropout_op`, `nonlin`, any `*_op`) must
be one of the exact spellings in `TORCH_OPS`, and every kwarg must be plain JSON, all checked
before anything is imported. svseg itself turns op names into classes by a dict lookup
(`torch_op_class`), never by importing a string. Registering a name twice is a bug and raises.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from svseg.errors import SvsegError

Recipe = Callable[..., dict[str, Any]]

# The exact op spellings nnU-Net 2.8.1's planners (`cls.__module__ + "." + cls.__name__`, and
# "torch.nn.LeakyReLU" written literally) and svseg's recipes (nnunet_unet.py) write, per kwarg. Nothing
# else may stand in an op kwarg; `dropout_op` is always None in what they write.
TORCH_OPS: dict[str, dict[str, type[nn.Module]]] = {
    "conv_op": {"torch.nn.modules.conv.Conv2d": nn.Conv2d, "torch.nn.modules.conv.Conv3d": nn.Conv3d},
    "norm_op": {
        "torch.nn.modules.instancenorm.InstanceNorm2d": nn.InstanceNorm2d,
        "torch.nn.modules.instancenorm.InstanceNorm3d": nn.InstanceNorm3d,
    },
    "dropout_op": {},
    "nonlin": {"torch.nn.LeakyReLU": nn.LeakyReLU},
}
MAX_KWARGS_DEPTH = 8
"""Nesting levels allowed below arch_kwargs (L-SNet's ``lnet.kernel_sizes`` uses 3)."""


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
    """Build the network as nnU-Net's `get_network_from_plans` does (ops resolved, call, init hook)."""
    kwargs = dict(arch_kwargs)
    for key in requires_import:
        if kwargs.get(key) is not None:
            kwargs[key] = torch_op_class(key, kwargs[key])
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


def torch_op_class(key: str, name: Any, where: str = "plans") -> type[nn.Module]:
    """The torch.nn class an op kwarg names, looked up in `TORCH_OPS` (never imported from the string)."""
    allowed = TORCH_OPS.get(key, {})
    if isinstance(name, str) and name in allowed:
        return allowed[name]
    raise SvsegError(
        f"{where}.{key} = {short_repr(name)} is not an allowed torch.nn class (allowed: "
        f"{', '.join(allowed) or 'None'}); refusing to import it"
    )


def short_repr(value: Any, limit: int = 80) -> str:
    """repr() of a value cut to `limit` characters: messages stay one short line whatever a file holds."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_op_key(key: str) -> bool:
    return key in TORCH_OPS or key.endswith("_op")


def check_plain_json(value: Any, where: str, depth: int = MAX_KWARGS_DEPTH) -> None:
    """Refuse anything but None/bool/int/float/str and lists/dicts of them, nested at most `depth` deep.

    Dict keys must be strings and never dunder names. Raises SvsegError naming `where` and the key.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if depth <= 0:
        raise SvsegError(f"{where}: nested too deeply (plans hold plain data a few levels deep)")
    if isinstance(value, (list, tuple)):  # tuples: in-memory plans before their JSON round trip
        for index, item in enumerate(value):
            check_plain_json(item, f"{where}[{index}]", depth - 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("__"):
                raise SvsegError(f"{where}: key {short_repr(key)} is not allowed (plain names only, no dunder keys)")
            check_plain_json(item, f"{where}.{key}", depth - 1)
        return
    raise SvsegError(f"{where}: {type(value).__name__} value {short_repr(value)} is not plain JSON")


def _check_kwargs_tree(kwargs: Mapping[str, Any], where: str) -> None:
    """Every op kwarg (at any depth) an allowed name or None; every `*_kwargs` flat plain values or None."""
    for key, value in kwargs.items():
        here = f"{where}.{key}"
        if _is_op_key(key):
            if value is not None:
                torch_op_class(key, value, where)
        elif key.endswith("_kwargs") and value is not None:
            if not isinstance(value, dict):
                raise SvsegError(f"{here} must be an object of plain values or null, got {short_repr(value)}")
            for name, item in value.items():
                nested = isinstance(item, (list, tuple)) and any(isinstance(v, (list, tuple, dict)) for v in item)
                if isinstance(item, dict) or nested:
                    raise SvsegError(f"{here}.{name}: only plain values are allowed in {key}, got {short_repr(item)}")
        elif isinstance(value, dict):
            _check_kwargs_tree(value, here)


def check_architecture_block(block: Mapping[str, Any], where: str = "plans") -> None:
    """Refuse a plans architecture block unless it is data a registered network accepts.

    Checked field by field before anything is imported: `network_class_name` exactly one registered
    class path; `_kw_requires_import` exactly that entry's list; every op name an exact `TORCH_OPS`
    spelling; `arch_kwargs` plain JSON (`check_plain_json`), `*_kwargs` flat. `where` prefixes
    every message (the plans file and configuration). Raises SvsegError; returns None when safe.
    """
    if not isinstance(block, dict):
        raise SvsegError(f"{where}: architecture must be an object, got {type(block).__name__}")
    extra = sorted(set(block) - {"network_class_name", "arch_kwargs", "_kw_requires_import"}, key=str)
    if extra:
        raise SvsegError(f"{where}: unexpected architecture key(s) {short_repr(extra)}")
    class_path = block.get("network_class_name")
    entries = [e for e in _REGISTRY.values() if isinstance(class_path, str) and e.class_path == class_path]
    if not entries:
        raise SvsegError(
            f"{where}: network_class_name {short_repr(class_path)} is not a registered svseg architecture; "
            f"registered: {', '.join(sorted(registered_class_paths()))}"
        )
    expected = list(entries[0].requires_import)
    requires_import = block.get("_kw_requires_import")
    if not isinstance(requires_import, (list, tuple)) or list(requires_import) != expected:
        raise SvsegError(
            f"{where}: _kw_requires_import {short_repr(requires_import)} of {class_path} must be "
            f"exactly {expected}; refusing to import it"
        )
    arch_kwargs = block.get("arch_kwargs")
    if not isinstance(arch_kwargs, dict):
        raise SvsegError(f"{where}: arch_kwargs of {class_path} must be an object, got {type(arch_kwargs).__name__}")
    check_plain_json(arch_kwargs, f"{where}.arch_kwargs")
    _check_kwargs_tree(arch_kwargs, f"{where}.arch_kwargs")
    for key in expected:
        if key not in arch_kwargs:
            raise SvsegError(f"{where}.arch_kwargs: {key} missing (nnU-Net resolves it; null means none)")
        if arch_kwargs[key] is not None:
            torch_op_class(key, arch_kwargs[key], f"{where}.arch_kwargs")


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
