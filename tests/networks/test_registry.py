"""Tests for svseg/networks/registry.py: lookup, building, plans blocks, the safety gate."""

from __future__ import annotations

import copy
import json
import pydoc
import re

import pytest
import torch
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from torch.nn import functional as F

from svseg.errors import SvsegError
from svseg.networks import (
    architecture_block,
    check_architecture_block,
    count_parameters,
    create_network,
    is_network,
    list_networks,
    network_supports_deep_supervision,
    registered_class_paths,
)
from svseg.networks import registry as registry_module
from svseg.networks.registry import TORCH_OPS, register_network, to_plain_json

SVANET_PATH = "svseg.networks.svanet.SvANet"
UNET_PATH = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
FULL_SIZE = {"svanet", "sosegformer_like"}


def test_required_networks_are_registered() -> None:
    assert {"svanet", "svanet_tiny", "sosegformer_like", "unet"} <= set(list_networks())
    assert list_networks() == sorted(list_networks())
    assert list_networks("svanet*") == ["svanet", "svanet_tiny", "svanet_tiny_detail"]
    assert is_network("svanet") and not is_network("svanet_huge")


def test_registering_a_name_twice_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))
    with pytest.raises(ValueError, match="registered twice"):
        register_network("svanet", torch.nn.Identity)(lambda **kw: {})
    register_network("probe_net", torch.nn.Identity)(lambda **kw: {})
    with pytest.raises(ValueError, match="registered twice"):
        register_network("probe_net", torch.nn.Identity)(lambda **kw: {})


def test_unknown_network_is_a_user_error() -> None:
    with pytest.raises(SvsegError, match=r"unknown network 'nope'.*svanet"):
        create_network("nope", 1, 2)
    with pytest.raises(SvsegError):
        architecture_block("nope", (64, 64), (1.0, 1.0), 1, 2)


def test_none_kwargs_are_dropped_so_defaults_apply() -> None:
    default = create_network("svanet_tiny", 1, 2)
    with_none = create_network("svanet_tiny", 1, 2, width=None, assemformer=None)
    assert count_parameters(default) == count_parameters(with_none)


def test_unknown_option_is_a_user_error() -> None:
    with pytest.raises(SvsegError, match="no option widht"):
        create_network("svanet_tiny", 1, 2, widht=0.5)


@pytest.mark.parametrize("name", list_networks())
def test_every_network_runs_forward_and_backward(name: str) -> None:
    """Registry-driven: a newly registered network is tested without writing a new test.

    Deep supervision is switched on where supported, because nnU-Net's U-Net only uses its
    low-resolution heads then; every parameter must receive a gradient.
    """
    deep_supervision = network_supports_deep_supervision(name)
    network = create_network(name, 2, 3, deep_supervision, patch_size=(64, 64))  # unet: topology for 64 x 64
    if hasattr(network, "trainer_class_name"):  # trained by its own step (L-SNet: tests/training/test_lsnet*)
        assert network.eval()(torch.randn(2, 2, 64, 64)).shape == (2, 3, 64, 64)
        return
    network.train()
    x = torch.randn(2, 2, 64, 64)
    target = torch.randint(0, 3, (2, 64, 64))
    outputs = network(x)
    logits = outputs[0] if deep_supervision else outputs
    assert logits.shape == (2, 3, 64, 64)
    loss = F.cross_entropy(logits, target)
    if deep_supervision:
        loss = loss + sum(out.mean() for out in outputs[1:])
    loss.backward()
    assert all(p.grad is not None for p in network.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", list_networks())
def test_architecture_block_is_plain_json_and_builds_the_same_network(name: str) -> None:
    block = architecture_block(name, (256, 256), (0.8, 0.8), 3, 2)
    assert json.loads(json.dumps(block)) == block
    assert set(block) == {"network_class_name", "arch_kwargs", "_kw_requires_import"}
    check_architecture_block(block)
    with torch.device("meta"):  # structure only: fast even for the 200 M-parameter models
        direct = create_network(name, 3, 2)
        planned = get_network_from_plans(
            block["network_class_name"],
            block["arch_kwargs"],
            block["_kw_requires_import"],
            3,
            2,
            deep_supervision=False,
        )
    assert type(planned) is type(direct)
    direct_shapes = {k: v.shape for k, v in direct.state_dict().items()}
    assert direct_shapes == {k: v.shape for k, v in planned.state_dict().items()}


@pytest.mark.parametrize("name", ["svanet_tiny", "unet"])
def test_plans_network_computes_the_same_function(name: str) -> None:
    block = architecture_block(name, (64, 64), (1.0, 1.0), 1, 2)
    direct = create_network(name, 1, 2, patch_size=(64, 64)).eval()
    planned = get_network_from_plans(
        block["network_class_name"], block["arch_kwargs"], block["_kw_requires_import"], 1, 2, deep_supervision=False
    ).eval()
    planned.load_state_dict(direct.state_dict())
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(planned(x), direct(x))


def test_svanet_block_carries_the_variant_switches() -> None:
    block = architecture_block("sosegformer_like", (512, 512), (1.0, 1.0), 3, 8, width=0.5)
    kwargs = block["arch_kwargs"]
    assert block["network_class_name"] == SVANET_PATH
    assert block["_kw_requires_import"] == []
    assert kwargs["mcattn"] is False and kwargs["svattn"] is False and kwargs["width"] == 0.5
    assert kwargs["mcattn_pool_sizes"] == [1, 2, 3]
    assert "pretrained" not in kwargs


@pytest.mark.parametrize("patch", [(250, 256), (64, 64, 64), (16, 32)])
def test_svanet_block_rejects_patches_it_cannot_run(patch: tuple[int, ...]) -> None:
    with pytest.raises(SvsegError, match="multiples of 32"):
        architecture_block("svanet", patch, (1.0,) * len(patch), 1, 2)


def test_registered_class_paths() -> None:
    assert registered_class_paths() == {
        SVANET_PATH,
        UNET_PATH,
        "svseg.networks.sts_net.STSNet",
        "svseg.networks.m2snet.M2SNet",
        "svseg.networks.lsnet.model.LSNet",
    }


PROBE = "torch.nn.functional.torch.os.system"  # pydoc.locate follows it to os.system


def _unet_block(patch: tuple[int, ...] = (256, 256)) -> dict:
    return architecture_block("unet", patch, (1.0,) * len(patch), 1, 2)


def test_check_architecture_block_refuses_unregistered_classes() -> None:
    block = _unet_block()
    for bad in ("os.system", "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet", None,
                "torch.nn.Module.__subclasses__", "svseg.networks.svanet.SvANet.__init__", 42):
        with pytest.raises(SvsegError, match=re.escape(f"network_class_name {bad!r} is not a registered svseg")):
            check_architecture_block({**block, "network_class_name": bad}, "f.json: configurations['2d']")
    with pytest.raises(SvsegError, match=r"^f\.json: .*registered: .*SvANet"):
        check_architecture_block({**block, "network_class_name": "x.Y"}, "f.json")


@pytest.mark.parametrize("key", ["conv_op", "norm_op", "dropout_op", "nonlin"])
@pytest.mark.parametrize("value", [
    PROBE, "torch.nn.modules.conv.torch.os.system", "torch.nn.init.os.system", "builtins.exec", "os.system",
    "subprocess.call", "__import__", "torch.nn.Module.__subclasses__", "torch.nn.Conv2d", "torch.nn.ReLU", 42,
    ["torch.nn.LeakyReLU"], {"a": 1},
])
def test_op_names_outside_the_allow_list_are_refused(key: str, value: object) -> None:
    """Only the planner's exact spellings pass; even a real torch.nn class under another spelling does not."""
    block = _unet_block()
    block["arch_kwargs"][key] = value
    with pytest.raises(SvsegError, match=rf"^f\.json\.arch_kwargs\.{key} = .* is not an allowed torch\.nn class"):
        check_architecture_block(block, "f.json")


def test_requires_import_must_be_exactly_the_registered_list() -> None:
    for bad in (["conv_op", "norm_op", "dropout_op", "nonlin", "n_stages"], ["conv_op"], [], "conv_op",
                ["nonlin", "conv_op", "norm_op", "dropout_op"], None):
        block = _unet_block()
        block["_kw_requires_import"] = bad
        with pytest.raises(SvsegError, match=r"_kw_requires_import .* must be exactly \['conv_op'"):
            check_architecture_block(block)
    svanet = architecture_block("svanet_tiny", (64, 64), (1.0, 1.0), 1, 2)
    svanet["_kw_requires_import"] = ["assemformer"]
    svanet["arch_kwargs"]["assemformer"] = "os.system"
    with pytest.raises(SvsegError, match=r"must be exactly \[\]"):
        check_architecture_block(svanet)
    block = _unet_block()
    del block["arch_kwargs"]["dropout_op"]
    with pytest.raises(SvsegError, match="dropout_op missing"):
        check_architecture_block(block)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"nonlin_kwargs": {"a": {"b": PROBE}}}, r"arch_kwargs\.nonlin_kwargs\.a: only plain values"),
    ({"norm_op_kwargs": {"eps": [[1e-5]]}}, r"arch_kwargs\.norm_op_kwargs\.eps: only plain values"),
    ({"nonlin_kwargs": "inplace"}, r"arch_kwargs\.nonlin_kwargs must be an object"),
    ({"__class__": "x"}, r"arch_kwargs: key '__class__' is not allowed"),
    ({"nonlin_kwargs": {"__globals__": 1}}, r"arch_kwargs\.nonlin_kwargs: key '__globals__' is not allowed"),
    ({"features_per_stage": print}, r"arch_kwargs\.features_per_stage: builtin_function_or_method value"),
    ({"features_per_stage": {1, 2}}, r"arch_kwargs\.features_per_stage: set value"),
    ({"conv_bias": b"os.system"}, r"arch_kwargs\.conv_bias: bytes value"),
    ({"kernel_sizes": [[[[[[[[[3]]]]]]]]]}, r"arch_kwargs\.kernel_sizes.*: nested too deeply"),
    ({"pool_op": "torch.nn.modules.pooling.MaxPool2d"}, r"arch_kwargs\.pool_op = .* not an allowed torch\.nn class"),
    ({"extra": {"deeper": {"nonlin": PROBE}}}, r"arch_kwargs\.extra\.deeper\.nonlin = "),
])
def test_kwargs_must_be_plain_data(kwargs: dict, message: str) -> None:
    block = _unet_block()
    block["arch_kwargs"].update(kwargs)
    with pytest.raises(SvsegError, match=message):
        check_architecture_block(block)


def test_block_shape_is_checked() -> None:
    with pytest.raises(SvsegError, match="architecture must be an object"):
        check_architecture_block(["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(SvsegError, match="unexpected architecture key"):
        check_architecture_block({**_unet_block(), "extra": "os.system"})
    with pytest.raises(SvsegError, match=r"arch_kwargs of .* must be an object"):
        check_architecture_block({**_unet_block(), "arch_kwargs": None})


def test_lsnet_backbone_ops_are_checked_at_any_depth(tmp_path) -> None:
    """L-SNet's plans nest the L-Net U-Net kwargs under ``lnet``; its ops pass the same allow-list."""
    from svseg.networks.lsnet.lnet import LNet

    block = architecture_block("lsnet_tiny", (64, 64), (1.0, 1.0), 1, 2)
    marker = tmp_path / "MARKER"
    block["arch_kwargs"]["lnet"].update(nonlin=PROBE, nonlin_kwargs={"command": f"touch {marker}"})
    with pytest.raises(SvsegError, match=r"arch_kwargs\.lnet\.nonlin = .* not an allowed torch\.nn class"):
        check_architecture_block(block)
    with pytest.raises(SvsegError, match=r"L-Net backbone\.nonlin = .* not an allowed"):
        LNet(1, 1, block["arch_kwargs"]["lnet"], box_scale=8.0)
    assert not marker.exists()


@pytest.mark.parametrize("name", list_networks())
def test_every_registered_block_passes_unchanged(name: str) -> None:
    patches = [(64, 64), (96, 128)] + ([(16, 64, 64)] if name == "unet" else [])
    for patch in patches:
        block = architecture_block(name, patch, (1.0,) * len(patch), 1, 2)
        before = copy.deepcopy(block)
        check_architecture_block(block)
        assert block == before


def test_op_table_matches_what_nnunet_would_import() -> None:
    """Independent reference: pydoc.locate (nnU-Net's resolver) gives the class the table holds for each name."""
    for names in TORCH_OPS.values():
        for name, cls in names.items():
            assert pydoc.locate(name) is cls
    for cls in (torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.InstanceNorm2d, torch.nn.InstanceNorm3d):
        key = "conv_op" if "Conv" in cls.__name__ else "norm_op"
        assert f"{cls.__module__}.{cls.__name__}" in TORCH_OPS[key]  # how nnU-Net's planner spells them


def test_building_a_network_imports_no_string(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: str, *args, **kwargs):
        raise AssertionError(f"pydoc.locate({path!r}) called")

    monkeypatch.setattr(pydoc, "locate", refuse)
    network = create_network("unet", 1, 2, patch_size=(64, 64))
    assert isinstance(network.encoder.stages[0][0].convs[0].conv, torch.nn.Conv2d)


def test_deep_supervision_support() -> None:
    assert network_supports_deep_supervision("svanet") is False
    assert network_supports_deep_supervision("svanet_tiny") is False
    assert network_supports_deep_supervision(SVANET_PATH) is False
    assert network_supports_deep_supervision("unet") is True
    assert network_supports_deep_supervision(UNET_PATH) is True
    with pytest.raises(SvsegError):
        network_supports_deep_supervision("some.Other")


def test_to_plain_json() -> None:
    import numpy as np

    assert to_plain_json({"a": (1, np.int64(2)), "b": np.array([3, 4]), "c": None}) == {
        "a": [1, 2],
        "b": [3, 4],
        "c": None,
    }
    with pytest.raises(TypeError):
        to_plain_json({"a": object()})
