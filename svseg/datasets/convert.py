"""Writing one case into an nnU-Net raw dataset folder.

Images become ``images{Tr,Ts}/CASE_0000<ending>`` (one file per channel, 2D RGB in one file)
and masks ``labels{Tr,Ts}/CASE<ending>`` with the dataset-wide label mapping applied. Volumes
keep their geometry: NIfTI sources keep their header bit for bit (:mod:`nifti_copy`), other
formats go through SimpleITK with their spacing, origin and direction.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from svseg.datasets.case_reader import Channel, read_case_images, read_case_label
from svseg.datasets.labels import LabelPlan
from svseg.datasets.nifti_copy import copy_nifti_channel, is_nifti, write_nifti_label
from svseg.datasets.pairing import CaseSource
from svseg.io import write_image, write_mask_like
from svseg.io.channel_rule import ChannelRule, case_channel_count
from svseg.io.source_files import SourceInfo


def output_ending(rule: ChannelRule, sources: tuple[SourceInfo, ...] | list[SourceInfo]) -> str:
    """The file ending one case needs under the dataset's `rule`, from its source files' summaries.

    Volumes become ``.nii.gz``. 2D images become ``.png`` (lossless, read by nnU-Net) when PNG
    can hold them: 8-bit grey or colour, 16-bit grey. Anything else (float, signed, 16-bit colour
    microscopy) becomes ``.tif``, which nnU-Net's 2D reader also reads.
    """
    if any(info.is_volume for info in sources):
        return ".nii.gz"
    for info in sources:
        grey = case_channel_count(rule.colour, [info]) == 1
        if info.dtype == "uint8" or (info.dtype == "uint16" and grey):
            continue
        return ".tif"
    return ".png"


def case_paths(target: Path, case: CaseSource, num_files: int, ending: str) -> tuple[list[Path], Path]:
    """Where a case's image files and label file go inside the dataset folder `target`."""
    subset = "Ts" if case.test else "Tr"
    images = [target / f"images{subset}" / f"{case.case_id}_{index:04d}{ending}" for index in range(num_files)]
    return images, target / f"labels{subset}" / f"{case.case_id}{ending}"


def write_case(target: Path, case: CaseSource, ending: str, plan: LabelPlan | None, rule: ChannelRule) -> list[Path]:
    """Convert one case into `target` under the dataset's channel `rule`; returns the files written (images first)."""
    channels = read_case_images(rule, case.images)
    image_paths, label_path = case_paths(target, case, len(channels), ending)
    for channel, path in zip(channels, image_paths, strict=True):
        _write_channel(channel, path, ending)
    written = list(image_paths)
    if case.label is not None and plan is not None:
        _write_label(case.label, label_path, ending, plan)
        written.append(label_path)
    return written


def _write_channel(channel: Channel, path: Path, ending: str) -> None:
    if ending == ".nii.gz" and is_nifti(channel.source):
        copy_nifti_channel(channel.source, path, channel.index)
        return
    image = channel.image
    if ending == ".tif" and image.array.dtype == np.float64:
        image = dataclasses.replace(image, array=image.array.astype(np.float32))  # nnU-Net reads float32
    write_image(path, image)


def _write_label(source: Path, path: Path, ending: str, plan: LabelPlan) -> None:
    if ending == ".nii.gz" and is_nifti(source):
        write_nifti_label(source, path, plan.apply)
        return
    mask = read_case_label(source)
    write_mask_like(path, plan.apply(mask.array), mask)

