"""Which files to predict, where their masks go, and how they become nnU-Net arrays.

nnU-Net's own predictor only reads files named ``CASE_0000.<ending>`` in the training format
(no JPG, no DICOM). svseg reads every input with :mod:`svseg.io` instead and hands nnU-Net the
array and properties that nnU-Net's reader for the model's dataset would have produced, so the
preprocessing (normalisation, resampling) sees exactly what it saw in training:

* models trained on 2D natural images (``NaturalImage2DIO``: PNG/BMP/TIF datasets): arrays
  ``(c, 1, H, W)`` with spacing ``(999, 1, 1)``, i.e. pixel units;
* models trained on volumes (``SimpleITKIO``, ``NibabelIO``, ``Tiff3DIO``): arrays
  ``(c, z, y, x)`` with SimpleITK's spacing reversed to z-y-x; a 2D image becomes
  ``(c, 1, H, W)`` with spacing ``(999 * max(sx, sy), sy, sx)`` as SimpleITKIO does.

A folder named the nnU-Net way (``CASE_0000.<ending>``, ``CASE_0001.<ending>``) is read as
nnU-Net's cases: one case per ``CASE``, its files stacked as channels, its mask ``CASE.<ending>``
(:mod:`svseg.io.channel_files`, shared with import). Any other input is one case per file or DICOM series.

Every case becomes the model's channels through the channel rule the model was trained with
(:mod:`svseg.io.channel_rule`, recorded in its dataset.json by ``svseg import``, or derived from
``channel_names`` and ``file_ending`` for older and plain nnU-Net models): the conversion import
applied to the training images is applied to the inputs. Before any work starts every input is
checked (readable, mappable to the model's channels), so a bad file fails the run before a
single mask is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from svseg.errors import SvsegError
from svseg.io import Image, check_exists, file_ending, stem_of
from svseg.io.channel_files import describe_case, group_channel_files
from svseg.io.channel_rule import ChannelRule, apply_rule, plan_case, rule_for_dataset_json
from svseg.io.dataset_json_safety import read_dataset_json
from svseg.io.source_files import SourceInfo, probe_source

log = logging.getLogger(__name__)

DICOM_OUTPUT_ENDING = ".nii.gz"
# Output ending per input ending: same format family, single-file formats only (a .mhd/.nhdr
# header with a separate data file cannot be written atomically as one file).
_OUTPUT_ENDING = {
    ".nii.gz": ".nii.gz", ".nii": ".nii", ".nrrd": ".nrrd", ".nhdr": ".nrrd", ".mha": ".mha", ".mhd": ".mha",
    ".png": ".png", ".jpg": ".png", ".jpeg": ".png", ".bmp": ".png", ".tif": ".tif", ".tiff": ".tiff",
}
NATURAL_2D = "natural_2d"
VOLUME = "volume"


@dataclass(frozen=True)
class Case:
    """One input (a file, a DICOM series folder, or nnU-Net channel files) and the mask it will produce.

    `channel_files` holds the files of a case read the nnU-Net way in channel order (``_0000``
    first, which is also `source` and gives the mask its geometry); it is empty otherwise.
    """

    source: Path
    output: Path
    channel_files: tuple[Path, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        """The files read for this case, in channel order."""
        return self.channel_files or (self.source,)

    @property
    def is_dicom(self) -> bool:
        """True when the input is a folder holding a DICOM series."""
        return self.source.is_dir()


def list_cases(inputs: Path | list[Path], output_dir: Path, num_channels: int = 1) -> list[Case]:
    """Expand a folder or a list of paths into cases with their output paths.

    A folder contributes its supported files and its sub-folders that hold a DICOM series;
    other files are skipped with a warning. A folder with no images but a DICOM series is one
    case. A folder named the nnU-Net way is grouped into cases (`num_channels`, the model's
    input channels, tells a numbered series from one case; see :mod:`svseg.io.channel_files`); files
    given one by one always keep their names. Raises SvsegError for empty inputs, missing
    files, outputs that would land in the input folder, and two inputs that would write the
    same mask.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise SvsegError(f"{output_dir}: output path exists and is not a folder")
    if isinstance(inputs, (str, Path)):
        inputs = Path(inputs)
        check_exists(inputs)
        sources = _expand_folder(inputs) if inputs.is_dir() else [_checked_file(inputs)]
        input_folders = {inputs.resolve()} if inputs.is_dir() else {inputs.resolve().parent}
    else:
        if not inputs:
            raise SvsegError("no input files given")
        sources = [_checked_path(Path(p)) for p in inputs]
        input_folders = {p.resolve().parent if p.is_file() else p.resolve() for p in sources}
    if output_dir.resolve() in input_folders:
        raise SvsegError(f"{output_dir}: output folder is the input folder; choose a separate folder for masks")
    groups = group_channel_files(sources, num_channels) if isinstance(inputs, Path) and inputs.is_dir() else None
    if groups is not None:
        cases = [_grouped_case(name, files, output_dir) for name, files in groups.items()]
    else:
        cases = [Case(source, output_dir / output_name(source)) for source in sources]
    _check_unique_outputs(cases)
    return cases


def output_name(source: Path) -> str:
    """The mask's file name: the input's stem plus the output ending of its format family."""
    if source.is_dir():
        return source.name + DICOM_OUTPUT_ENDING
    return stem_of(source) + _OUTPUT_ENDING[file_ending(source)]


def _grouped_case(name_and_ending: str, files: list[Path], output_dir: Path) -> Case:
    """A case of nnU-Net channel files; its mask is ``CASE`` plus the output ending of its format."""
    ending = file_ending(files[0])
    output = output_dir / (name_and_ending[: -len(ending)] + _OUTPUT_ENDING[ending])
    return Case(files[0], output, tuple(files))


def _expand_folder(folder: Path) -> list[Path]:
    sources: list[Path] = []
    skipped: list[str] = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if file_ending(child) and not child.exists():
            check_exists(child)  # an image name that cannot be opened (a link loop, a dangling link) is an error
        if child.is_file() and file_ending(child):
            sources.append(child)
        elif child.is_dir() and _has_dicom_series(child):
            sources.append(child)
        else:
            skipped.append(child.name)
    if not sources and skipped and _has_dicom_series(folder):
        return [folder]
    if skipped:
        log.warning("%s: skipping %d entr%s that are not images: %s", folder, len(skipped),
                    "y" if len(skipped) == 1 else "ies", ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    if not sources:
        raise SvsegError(f"{folder}: no images to predict in this folder (supported: NIfTI, NRRD, MHA, PNG, JPG, "
                         "BMP, TIFF, DICOM series folders)")
    return sources


def _checked_path(path: Path) -> Path:
    check_exists(path)
    if path.is_dir():
        if not _has_dicom_series(path):
            raise SvsegError(f"{path}: folder holds no DICOM series (pass image files or a folder of them)")
        return path
    return _checked_file(path)


def _checked_file(path: Path) -> Path:
    if not file_ending(path):
        raise SvsegError(f"{path}: unsupported file type (supported: NIfTI, NRRD, MHA/MHD, PNG, JPG, BMP, TIFF)")
    return path


def _has_dicom_series(folder: Path) -> bool:
    import SimpleITK as sitk

    try:
        return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    except RuntimeError:
        return False


def _check_unique_outputs(cases: list[Case]) -> None:
    seen: dict[Path, Path] = {}
    for case in cases:
        if case.output in seen:
            raise SvsegError(f"{case.source}: would write the same mask {case.output.name} as {seen[case.output]}; "
                             "rename one of them")
        seen[case.output] = case.source


def model_input_rule(model_dir: Path) -> ChannelRule:
    """The channel rule of the model in `model_dir`, from its dataset.json (see the module docstring)."""
    path = Path(model_dir) / "dataset.json"
    if not path.is_file():
        raise SvsegError(f"{path}: not found; is {path.parent} a trained model folder?")
    return rule_for_dataset_json(read_dataset_json(path), path)


def probe_case(case: Case) -> list[SourceInfo]:
    """Check that `case` can be read and summarise its files, reading as little as possible.

    Volumes and DICOM series are checked through their headers only (a 400-slice CT is read
    once, when it is predicted; its NaN check and a truncated file's check happen then); 2D
    images are small and are decoded fully, which also catches truncated files and NaN. The files
    of a multi-file case must share size and spacing (as nnU-Net's readers demand).
    """
    infos = [probe_source(path) for path in case.files]
    first = infos[0]
    for path, info in zip(case.files[1:], infos[1:], strict=True):
        if info.size != first.size:
            raise SvsegError(f"{path}: size {info.size} differs from {case.source.name} {first.size} "
                             "(a case's channel files must match)")
        if not np.allclose(info.spacing, first.spacing, rtol=1e-4, atol=1e-6):
            raise SvsegError(f"{path}: spacing {info.spacing} differs from {case.source.name} {first.spacing} "
                             "(a case's channel files must match)")
    return infos


def check_case(case: Case, rule: ChannelRule, channel_names: list[str]) -> None:
    """Fail with one line naming the file (or the case, for channel files) unless `case` maps to the model."""
    plan_case(rule, probe_case(case), channel_names, _case_label(case))


def read_case(case: Case, rule: ChannelRule, channel_names: list[str] | None = None) -> Image:
    """Read the case's pixels and geometry through the model's channel `rule`; channels stacked in order.

    The geometry is the first file's; nnU-Net's reader only warns when the files' origins or
    directions differ, and so does svseg.
    """
    channels = apply_rule(rule, list(case.files), channel_names or (), _case_label(case))
    first = channels[0].image
    for channel in channels[1:]:
        image = channel.image
        if image.spatial_shape != first.spatial_shape:  # probed before, unless a file changed since
            raise SvsegError(f"{channel.source}: size {image.spatial_shape} differs from {case.source.name} "
                             f"{first.spatial_shape}")
        if channel.source != case.source and first.geometry_matches(image):
            log.warning("%s: %s differ from %s; the mask takes the geometry of %s", channel.source,
                        ", ".join(first.geometry_matches(image)), case.source.name, case.source.name)
    if len(channels) == 1:
        return first
    stacked = [c.image.array if c.num_channels > 1 else c.image.array[..., None] for c in channels]
    return replace(first, array=np.concatenate(stacked, axis=-1), palette=None)


def _case_label(case: Case) -> str:
    """How errors name a case: its file, or its first file with the case name for channel files."""
    return describe_case(case.channel_files) if case.channel_files else str(case.source)


def to_nnunet_array(image: Image, convention: str) -> tuple[np.ndarray, dict]:
    """Pixels as nnU-Net's ``(c, z, y, x)`` float32 array plus its properties ``{'spacing': z-y-x}``.

    `convention` is :data:`NATURAL_2D` or :data:`VOLUME` (see the module docstring); it comes
    from the reader the model's dataset was trained with, not from the input's format, because
    normalisation and resampling were fitted to that reader's output.
    """
    array = image.array
    if image.num_channels == 1:
        array = array[..., None]
    channels_first = np.moveaxis(array, -1, 0)
    if not image.is_volume:
        channels_first = channels_first[:, None]
    data = channels_first.astype(np.float32)
    if convention == NATURAL_2D:
        if image.is_volume:
            log.warning("%s: the model was trained on 2D images; predicting each slice in pixel units "
                        "(the volume's spacing is ignored)", image.source)
        spacing = [999.0, 1.0, 1.0]
    elif convention == VOLUME:
        spacing_xy = [abs(float(s)) for s in image.spacing]
        if image.is_volume:
            spacing = spacing_xy[::-1]
        else:
            spacing = [999.0 * max(spacing_xy), spacing_xy[1], spacing_xy[0]]
    else:
        raise ValueError(f"unknown input convention {convention!r}")
    return data, {"spacing": spacing}


def convention_for_reader(reader_class: type) -> str:
    """The input convention (:data:`NATURAL_2D` or :data:`VOLUME`) of the model's nnU-Net reader.

    Readers that reorient volumes to RAS change the voxel order; svseg does not emulate them and
    says so rather than predicting on differently oriented arrays.
    """
    name = reader_class.__name__
    if "Reorient" in name:
        raise SvsegError(f"the model was trained with nnU-Net's {name}, which reorients volumes; svseg predict "
                         "does not emulate it (use nnUNetv2_predict for this model)")
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO

    return NATURAL_2D if issubclass(reader_class, NaturalImage2DIO) else VOLUME
