"""Trained-model folders and input files for prediction tests, without training.

Two tiny raw datasets (grey PNGs; anisotropic NIfTI volumes with two foreground labels) are
planned once per session by nnU-Net's own API. Model folders are then written in the layout the
trainer produces (``DatasetNNN_NAME/SvsegTrainer__svsegPlans__2d/fold_k/checkpoint_*.pth``) with
seeded random weights of nnU-Net's PlainConvUNet, shrunk to a few channels so tests stay fast.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from PIL import Image as PILImage

PNG_ID, NIFTI_ID = 951, 952


def write_png_dataset(raw: Path) -> None:
    folder = raw / f"Dataset{PNG_ID:03d}_Png"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    for index in range(4):
        image = (rng.random((48, 40)) * 120).astype(np.uint8)
        label = np.zeros((48, 40), np.uint8)
        label[10:18, 6:14] = 1
        image[label == 1] += 100
        PILImage.fromarray(image).save(folder / "imagesTr" / f"c{index}_0000.png")
        PILImage.fromarray(label).save(folder / "labelsTr" / f"c{index}.png")
    dataset = {"channel_names": {"0": "rescale_to_0_1"}, "labels": {"background": 0, "spot": 1},
               "numTraining": 4, "file_ending": ".png"}
    (folder / "dataset.json").write_text(json.dumps(dataset))


def write_nifti_dataset(raw: Path) -> None:
    folder = raw / f"Dataset{NIFTI_ID:03d}_Vol"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    rng = np.random.default_rng(1)
    for index in range(4):
        image = (rng.random((6, 40, 36)) * 100).astype(np.int16)
        label = np.zeros((6, 40, 36), np.uint8)
        label[:, 10:20, 5:15] = 1
        label[2, 30:35, 20:25] = 2
        image[label > 0] += 200
        for array, path in ((image, folder / "imagesTr" / f"c{index}_0000.nii.gz"),
                            (label, folder / "labelsTr" / f"c{index}.nii.gz")):
            itk = sitk.GetImageFromArray(array)
            itk.SetSpacing((0.8, 0.8, 3.0))
            sitk.WriteImage(itk, str(path))
    dataset = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "organ": 1, "lesion": 2},
               "numTraining": 4, "file_ending": ".nii.gz"}
    (folder / "dataset.json").write_text(json.dumps(dataset))


def tiny_plans(plans: dict, channels: int = 1) -> dict:
    """A copy of `plans` whose 2d network has 4..32 features per stage and an svseg section."""
    plans = copy.deepcopy(plans)
    for name in [n for n in plans["configurations"] if n != "2d"]:
        del plans["configurations"][name]
    configuration = plans["configurations"]["2d"]
    kwargs = configuration["architecture"]["arch_kwargs"]
    kwargs["features_per_stage"] = [min(4 * 2**i, 32) for i in range(kwargs["n_stages"])]
    if channels != len(configuration["normalization_schemes"]):
        configuration["normalization_schemes"] = configuration["normalization_schemes"][:1] * channels
        configuration["use_mask_for_norm"] = configuration["use_mask_for_norm"][:1] * channels
        first = plans["foreground_intensity_properties_per_channel"]["0"]
        plans["foreground_intensity_properties_per_channel"] = {str(c): dict(first) for c in range(channels)}
    plans["svseg"] = {"format_version": 1, "configuration": "2d", "network": {"name": "unet", "kwargs": {}}}
    return plans


def make_model_folder(results: Path, planned_entry: tuple[dict, dict], folds: tuple[str, ...] = ("0",),
                      seed: int = 0, channel_names: dict | None = None, configuration: str = "2d",
                      checkpoints: tuple[str, ...] = ("final",), trainer: str = "SvsegTrainer") -> Path:
    """Write a trained-model folder with seeded random weights; returns the folder.

    `configuration` ``2d_<arch>`` adds a configuration inheriting ``2d``, as ``--arch`` training
    does. Checkpoints carry numpy scalars in their log, as nnU-Net's do.
    """
    from svseg.training.network_from_plans import build_network_from_plans
    from svseg.utils.fs import atomic_torch_save, atomic_write_json

    plans, dataset_json = copy.deepcopy(planned_entry[0]), copy.deepcopy(planned_entry[1])
    if channel_names is not None:
        dataset_json["channel_names"] = channel_names
    plans = tiny_plans(plans, len(dataset_json["channel_names"]))
    if configuration != "2d":
        plans["configurations"][configuration] = {"inherits_from": "2d"}
    folder = results / plans["dataset_name"] / f"{trainer}__svsegPlans__{configuration}"
    atomic_write_json(folder / "plans.json", plans)
    atomic_write_json(folder / "dataset.json", dataset_json)
    atomic_write_json(folder / "dataset_fingerprint.json", {})
    num_outputs = len(dataset_json["labels"])
    for fold in folds:
        torch.manual_seed(seed + (int(fold) if fold.isdigit() else 99))
        network = build_network_from_plans(plans, configuration, len(dataset_json["channel_names"]), num_outputs,
                                           deep_supervision=False)
        checkpoint = {
            "network_weights": network.state_dict(),
            "init_args": {"plans": plans, "configuration": configuration, "fold": fold,
                          "dataset_json": dataset_json, "device": torch.device("cpu")},
            "trainer_name": trainer,
            "inference_allowed_mirroring_axes": (0, 1),
            "current_epoch": 1,
            "logging": {"mean_fg_dice": [np.float64(0.5)]},
            "_best_ema": np.float64(0.5),
        }
        for name in checkpoints:
            atomic_torch_save(folder / f"fold_{fold}" / f"checkpoint_{name}.pth", checkpoint)
    return folder


def write_volume(path: Path, array: np.ndarray, spacing=(0.8, 0.8, 3.0), origin=(0.0, 0.0, 0.0),
                 direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)) -> None:
    """Write a (z, y, x) array as a volume file with the given geometry (x-y-z order)."""
    itk = sitk.GetImageFromArray(array)
    itk.SetSpacing(tuple(float(s) for s in spacing))
    itk.SetOrigin(tuple(float(o) for o in origin))
    itk.SetDirection(tuple(float(d) for d in direction))
    sitk.WriteImage(itk, str(path))


def write_dicom_series(folder: Path, array: np.ndarray, spacing=(0.7, 0.7, 2.5), origin=(5.0, -3.0, 12.0)) -> None:
    """Write a (z, y, x) int16 array as one DICOM file per slice (a single series)."""
    folder.mkdir(parents=True)
    volume = sitk.GetImageFromArray(array.astype(np.int16))
    volume.SetSpacing(spacing)
    volume.SetOrigin(origin)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for index in range(array.shape[0]):
        image = volume[:, :, index]
        image.SetMetaData("0020|0032", "\\".join(map(str, volume.TransformIndexToPhysicalPoint((0, 0, index)))))
        image.SetMetaData("0020|0013", str(index + 1))
        image.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.7")
        image.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
        image.SetMetaData("0008|0060", "CT")
        writer.SetFileName(str(folder / f"slice{index:03d}.dcm"))
        writer.Execute(image)


def noisy_volume(seed: int = 0, shape=(7, 40, 36)) -> np.ndarray:
    """A noisy int16 volume with a bright block, so the random network sees structure."""
    rng = np.random.default_rng(seed)
    volume = (rng.random(shape) * 100).astype(np.int16)
    volume[:, 10:20, 5:15] += 200
    return volume
