"""Several sliding-window tiles per forward pass write the same masks as one tile per pass.

On a GPU ``svseg predict`` stacks about 4 M input pixels of tiles into each forward pass (16 tiles
of 512 x 512); on the CPU it defaults to one tile, so CI would never run the batched path file to
file. Here a real small model, ``svanet_tiny`` trained for a few steps on the tiny NIfTI dataset's
bright blocks (the network svseg plans; nnU-Net's U-Net is covered tile-by-tile against nnU-Net's
own loop in test_predictor.py), predicts the same files with 1 tile per pass and with 5 (a count
that does not divide the tiles of a slice, so batches straddle slices), with and without mirroring,
and the written masks must be identical voxel for voxel.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from svseg.inference.api import predict
from svseg.io import read_image
from svseg.networks import SvANet, architecture_block

from .models import make_model_folder, noisy_volume, write_volume

PATCH = [32, 32]


def _svanet_tiny_model_folder(results: Path, planned_entry: tuple[dict, dict]) -> Path:
    """The tiny NIfTI plans with a 32 x 32 ``svanet_tiny`` configuration and briefly trained weights."""
    from svseg.training.network_from_plans import build_network_from_plans
    from svseg.utils.fs import atomic_torch_save, atomic_write_json

    folder = make_model_folder(results, planned_entry)
    plans = copy.deepcopy(planned_entry[0])
    dataset_json = planned_entry[1]
    configuration = plans["configurations"]["2d"]
    channels, classes = len(dataset_json["channel_names"]), len(dataset_json["labels"])
    configuration["patch_size"] = PATCH
    configuration["architecture"] = architecture_block("svanet_tiny", PATCH, configuration["spacing"], channels,
                                                       classes)
    plans["svseg"] = {"format_version": 1, "configuration": "2d", "network": {"name": "svanet_tiny", "kwargs": {}}}
    for name in [n for n in plans["configurations"] if n != "2d"]:
        del plans["configurations"][name]
    atomic_write_json(folder / "plans.json", plans)
    torch.manual_seed(3)
    network = build_network_from_plans(plans, "2d", channels, classes, deep_supervision=False)
    _train_on_blocks(network, plans["foreground_intensity_properties_per_channel"]["0"])
    checkpoint_path = folder / "fold_0" / "checkpoint_final.pth"
    checkpoint = torch.load(checkpoint_path, weights_only=False)
    checkpoint["network_weights"] = network.state_dict()
    checkpoint["init_args"]["plans"] = plans
    atomic_torch_save(checkpoint_path, checkpoint)
    return folder


def _train_on_blocks(network: torch.nn.Module, intensities: dict, steps: int = 60) -> None:
    """A few Adam steps on crops with label 1 in the bright block, so masks are not noise.

    Normalised as nnU-Net's CT scheme does (clip to the plans' 0.5-99.5 percentiles, z-score).
    """
    volume = np.clip(noisy_volume(0, (4, 40, 36)).astype(np.float32), intensities["percentile_00_5"],
                     intensities["percentile_99_5"])
    labels = np.zeros(volume.shape, np.int64)
    labels[:, 10:20, 5:15] = 1
    image = torch.from_numpy((volume - intensities["mean"]) / intensities["std"])[:, None, 4:36, :32]
    target = torch.from_numpy(labels)[:, 4:36, :32]
    optimizer = torch.optim.Adam(network.parameters(), lr=3e-3)
    network.train()
    for _ in range(steps):
        loss = F.cross_entropy(network(image), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    network.eval()


@pytest.mark.parametrize("tta", [False, True])
def test_many_tiles_per_pass_write_the_same_masks_as_one(planned: dict, tmp_path: Path, tta: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    passes: list[int] = []
    forward = SvANet.forward
    monkeypatch.setattr(SvANet, "forward", lambda self, x: passes.append(x.shape[0]) or forward(self, x))
    folder = _svanet_tiny_model_folder(tmp_path / "results", planned["nifti"])
    scans = tmp_path / "scans"
    scans.mkdir()
    for index, shape in enumerate([(5, 47, 53), (3, 40, 36)]):  # 2 x 3 and 2 x 2 tiles of 32 x 32 per slice
        write_volume(scans / f"case{index}.nii.gz", noisy_volume(10 + index, shape))
    masks, tiles = {}, []
    for batch_size in (1, 5):
        out = tmp_path / f"masks_b{batch_size}"
        passes.clear()
        result = predict(scans, out, model_dir=folder, device="cpu", tta=tta, batch_size=batch_size)
        assert len(result.written) == 2 and max(passes) == batch_size
        tiles.append(sum(passes))
        masks[batch_size] = {p.name: read_image(p).array for p in sorted(out.iterdir())}
    assert tiles[0] == tiles[1] == (5 * 6 + 3 * 4) * (4 if tta else 1)
    assert masks[1].keys() == masks[5].keys()
    for name, mask in masks[1].items():
        np.testing.assert_array_equal(masks[5][name], mask, err_msg=name)
    # The briefly trained model marks the bright block far more than the rest: the masks are not noise.
    mask = masks[1]["case1.nii.gz"]
    inside = np.zeros(mask.shape, bool)
    inside[:, 10:20, 5:15] = True
    assert (mask[inside] == 1).mean() > 0.3
    assert (mask[inside] == 1).mean() > 4 * (mask[~inside] > 0).mean()
