"""Folders named the nnU-Net way (``CASE_0000.<ending>``): grouped into cases, masks named ``CASE.<ending>``.

The stacked channels are checked against nnU-Net's own readers on the same files, the masks
against nnU-Net's ``predict_from_files`` on a two-channel model, and the masks' names by
``svseg evaluate`` pairing them with ``CASE.<ending>`` references.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from typer.testing import CliRunner

from svseg.cli import app
from svseg.errors import SvsegError
from svseg.inference.api import predict
from svseg.inference.inputs import NATURAL_2D, VOLUME, list_cases, probe_case, read_case, to_nnunet_array
from svseg.inference.model_loading import load_model
from svseg.io import read_image
from svseg.io.channel_rule import COMPONENTS, GREY_IMAGES, ChannelRule

from .models import make_model_folder, noisy_volume, write_volume

runner = CliRunner()


def _pngs(folder: Path, *names: str, shape=(12, 10)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        rng = np.random.default_rng(index)
        PILImage.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(folder / name)
    return folder


def _volumes(folder: Path, *names: str, shape=(4, 40, 36), spacing=(0.8, 0.8, 3.0)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        write_volume(folder / name, noisy_volume(index, shape), spacing=spacing)
    return folder


def _listed(folder: Path | list[Path], out: Path, num_channels: int = 1) -> dict[str, list[str]]:
    return {case.output.name: [p.name for p in case.files] for case in list_cases(folder, out, num_channels)}


def test_which_folders_are_read_the_nnunet_way(tmp_path: Path) -> None:
    out = tmp_path / "out"
    two = _volumes(tmp_path / "two", "a_0000.nii.gz", "a_0001.nii.gz", "b_0001.nii.gz", "b_0000.nii.gz",
                   shape=(2, 8, 8))
    assert _listed(two, out, 2) == {"a.nii.gz": ["a_0000.nii.gz", "a_0001.nii.gz"],
                                    "b.nii.gz": ["b_0000.nii.gz", "b_0001.nii.gz"]}
    # one file per case; a non-image file is skipped and does not spoil the convention
    single = _pngs(tmp_path / "single", "c_0000.png", "d 2_0000.jpg")
    (single / "notes.txt").write_text("x")
    assert _listed(single, out) == {"c.png": ["c_0000.png"], "d 2.png": ["d 2_0000.jpg"]}
    # names kept: one file off the pattern, cases without _0000, a numbered series, files given one by one
    mixed = _pngs(tmp_path / "mixed", "c_0000.png", "notes.png")
    assert _listed(mixed, out) == {"c_0000.png": ["c_0000.png"], "notes.png": ["notes.png"]}
    years = _pngs(tmp_path / "years", "scan_2019.png", "scan_2020.png")
    assert _listed(years, out) == {"scan_2019.png": ["scan_2019.png"], "scan_2020.png": ["scan_2020.png"]}
    series = _pngs(tmp_path / "series", *(f"frame_{i:04d}.png" for i in range(5)))
    assert _listed(series, out, 3) == {f"frame_{i:04d}.png": [f"frame_{i:04d}.png"] for i in range(5)}
    assert _listed([single / "c_0000.png"], out) == {"c_0000.png": ["c_0000.png"]}
    # the same single case with no more files than the model's channels is one multi-channel case
    assert _listed(_pngs(tmp_path / "one", "x_0000.png", "x_0001.png"), out, 2) == {
        "x.png": ["x_0000.png", "x_0001.png"]}


def test_a_gap_in_the_channel_numbers_names_the_case(tmp_path: Path) -> None:
    gap = _pngs(tmp_path / "gap", "a_0000.png", "a_0002.png", "b_0000.png", "b_0001.png")
    with pytest.raises(SvsegError, match=r"a_NNNN\.png: case 'a' has channel files _0000, _0002; .*without gaps"):
        list_cases(gap, tmp_path / "out", 2)


def test_channel_files_stack_like_nnunets_readers(tmp_path: Path) -> None:
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    volumes = _volumes(tmp_path / "v", "a_0000.nii.gz", "a_0001.nii.gz", "a_0002.nii.gz", "b_0000.nii.gz",
                       "b_0001.nii.gz", "b_0002.nii.gz", shape=(3, 9, 7), spacing=(0.5, 0.7, 3.0))
    case = next(c for c in list_cases(volumes, tmp_path / "out", 3) if c.output.name == "a.nii.gz")
    assert [info.channels for info in probe_case(case)] == [1, 1, 1]
    image = read_case(case, ChannelRule(3, 3, COMPONENTS, 3))
    assert image.array.shape == (3, 9, 7, 3) and image.source == volumes / "a_0000.nii.gz"
    np.testing.assert_array_equal(image.array[..., 2], noisy_volume(2, (3, 9, 7)))  # a_0002 is channel 2
    data, properties = to_nnunet_array(image, VOLUME)
    expected, expected_properties = SimpleITKIO().read_images([str(p) for p in case.files])
    np.testing.assert_array_equal(data, expected)
    np.testing.assert_allclose(properties["spacing"], expected_properties["spacing"])
    pngs = _pngs(tmp_path / "p", "x_0000.png", "x_0001.png", "y_0000.png", "y_0001.png")
    case = list_cases(pngs, tmp_path / "out", 2)[0]
    data, properties = to_nnunet_array(read_case(case, ChannelRule(2, 2, GREY_IMAGES, 2)), NATURAL_2D)
    expected, expected_properties = NaturalImage2DIO().read_images([str(p) for p in case.files])
    np.testing.assert_array_equal(data, expected)
    assert list(properties["spacing"]) == list(expected_properties["spacing"])


def test_channel_files_must_share_size_and_spacing(tmp_path: Path) -> None:
    folder = _volumes(tmp_path / "size", "a_0000.nii.gz", shape=(3, 8, 8))
    _volumes(folder, "a_0001.nii.gz", shape=(3, 8, 9))
    with pytest.raises(SvsegError, match=r"a_0001\.nii\.gz: size \(9, 8, 3\) differs from a_0000\.nii\.gz"):
        probe_case(list_cases(folder, tmp_path / "out", 2)[0])
    folder = _volumes(tmp_path / "spacing", "a_0000.nii.gz", shape=(3, 8, 8))
    _volumes(folder, "a_0001.nii.gz", shape=(3, 8, 8), spacing=(0.8, 0.8, 2.0))
    with pytest.raises(SvsegError, match=r"a_0001\.nii\.gz: spacing .* differs"):
        probe_case(list_cases(folder, tmp_path / "out", 2)[0])


def _nnunet_masks(model_dir: Path, cases: list[list[Path]], out: Path) -> None:
    """nnU-Net's own reader, preprocessing and export on the same model (TTA off)."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    model = load_model(model_dir, None)
    out.mkdir(parents=True)
    with contextlib.redirect_stdout(io.StringIO()):
        predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=False,
                                    perform_everything_on_device=False, device=torch.device("cpu"),
                                    allow_tqdm=False)
        predictor.manual_initialization(model.network, model.plans_manager, model.configuration_manager,
                                        model.parameters, model.dataset_json, model.trainer_name,
                                        model.mirroring_axes)
        predictor.predict_from_files_sequential([[str(p) for p in files] for files in cases],
                                                [str(out / f"case{i}") for i in range(len(cases))],
                                                save_probabilities=True, overwrite=True)


def test_two_channel_cases_match_nnunets_prediction(planned: dict, tmp_path: Path) -> None:
    model = make_model_folder(tmp_path / "results", planned["nifti"], seed=4, channel_names={"0": "CT", "1": "CT2"})
    scans = _volumes(tmp_path / "imagesTs", "p1_0000.nii.gz", "p1_0001.nii.gz", "p2_0000.nii.gz", "p2_0001.nii.gz",
                     shape=(3, 41, 35), spacing=(0.7, 0.9, 2.5))
    result = predict(scans, tmp_path / "svseg", model_dir=model)
    assert [p.name for p in result.written] == ["p1.nii.gz", "p2.nii.gz"] and result.num_slices == 6
    _nnunet_masks(model, [[scans / "p1_0000.nii.gz", scans / "p1_0001.nii.gz"],
                          [scans / "p2_0000.nii.gz", scans / "p2_0001.nii.gz"]], tmp_path / "nnunet")
    for index, name in enumerate(("p1", "p2")):
        ours = read_image(tmp_path / "svseg" / f"{name}.nii.gz")
        reference = read_image(tmp_path / "nnunet" / f"case{index}.nii.gz")
        assert ours.geometry_matches(read_image(scans / f"{name}_0000.nii.gz")) == []
        probabilities = np.load(tmp_path / "nnunet" / f"case{index}.npz")["probabilities"]
        top_two = np.sort(probabilities.reshape((-1, *reference.array.shape)), axis=0)[-2:]
        clear = (top_two[1] - top_two[0]) >= 0.01  # float16 vs float32 accumulation may flip near-ties
        assert len(np.unique(reference.array)) > 1
        np.testing.assert_array_equal(ours.array[clear], reference.array[clear])


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("problem", ["two_files_one_channel_model", "missing_second_channel", "rgb_file_too_many"])
def test_files_per_case_must_give_the_models_channels(planned: dict, tmp_path: Path, problem: str) -> None:
    if problem == "two_files_one_channel_model":
        model = make_model_folder(tmp_path / "results", planned["nifti"])
        scans = _volumes(tmp_path / "in", "a_0000.nii.gz", "a_0001.nii.gz", "b_0000.nii.gz", "b_0001.nii.gz")
        expected = r"a_0000\.nii\.gz \(case 'a', 2 channel files\): has 2 channels, but the model expects 1 \(CT\)"
    elif problem == "missing_second_channel":
        model = make_model_folder(tmp_path / "results", planned["nifti"], channel_names={"0": "T1", "1": "T2"})
        scans = _volumes(tmp_path / "in", "a_0000.nii.gz", "a_0001.nii.gz", "b_0000.nii.gz")
        expected = r"b_0000\.nii\.gz \(case 'b', 1 channel file\): has 1 channel \(grey\), but the model expects 2 " \
                   r"\(T1, T2\)"
    else:
        model = make_model_folder(tmp_path / "results", planned["png"], channel_names={"0": "R", "1": "G", "2": "B"})
        scans = _pngs(tmp_path / "in", "a_0001.png")
        PILImage.fromarray(np.zeros((12, 10, 3), np.uint8)).save(scans / "a_0000.png")
        _pngs(scans, "b_0000.png", "b_0001.png")
        expected = r"a_0000\.png \(case 'a', 2 channel files\): has 4 channels, but the model expects 3 " \
                   r"\(R, G, B\)"
    before = {p: p.read_bytes() for p in scans.iterdir()}
    result = runner.invoke(app, ["predict", "-i", str(scans), "-o", str(tmp_path / "masks"), "-m", str(model)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("svseg: error:"), result.output
    assert _matches(expected, result.output), result.output
    assert _files_under(tmp_path / "masks") == []
    assert {p: p.read_bytes() for p in scans.iterdir()} == before


def _matches(pattern: str, output: str) -> bool:
    import re

    return re.search(pattern, output.replace("\n", "")) is not None


def test_predict_then_evaluate_pairs_masks_with_nnunet_labels(planned: dict, tmp_path: Path) -> None:
    model = make_model_folder(tmp_path / "results", planned["nifti"], seed=2)
    images, labels = tmp_path / "imagesTs", tmp_path / "labelsTs"
    images.mkdir()
    labels.mkdir()
    for index, case in enumerate(("case_a", "case_b")):
        volume = noisy_volume(index, (3, 40, 36))
        write_volume(images / f"{case}_0000.nii.gz", volume)
        label = np.zeros_like(volume, dtype=np.uint8)
        label[:, 10:20, 5:15] = 1
        write_volume(labels / f"{case}.nii.gz", label)
    predicted = runner.invoke(app, ["predict", "-i", str(images), "-o", str(tmp_path / "pred"), "-m", str(model)])
    assert predicted.exit_code == 0, predicted.output
    assert _files_under(tmp_path / "pred") == ["case_a.nii.gz", "case_b.nii.gz"]
    evaluated = runner.invoke(app, ["evaluate", "-p", str(tmp_path / "pred"), "-g", str(labels), "-j", "1"])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads((tmp_path / "pred" / "evaluation" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["settings"]["cases"] == ["case_a", "case_b"] and metrics["settings"]["n_cases"] == 2


def test_a_4d_nifti_gives_the_masks_of_its_channel_files(planned: dict, tmp_path: Path) -> None:
    import SimpleITK as sitk

    model = make_model_folder(tmp_path / "results", planned["nifti"], seed=4, channel_names={"0": "CT", "1": "CT2"})
    scans = _volumes(tmp_path / "files", "p_0000.nii.gz", "p_0001.nii.gz", shape=(3, 41, 35), spacing=(0.7, 0.9, 2.5))
    joined = sitk.JoinSeries([sitk.ReadImage(str(scans / f"p_000{c}.nii.gz")) for c in range(2)])
    (tmp_path / "four").mkdir()
    sitk.WriteImage(joined, str(tmp_path / "four" / "p.nii.gz"))
    predict(scans, tmp_path / "from_files", model_dir=model)
    result = predict(tmp_path / "four", tmp_path / "from_4d", model_dir=model)
    assert [p.name for p in result.written] == ["p.nii.gz"]
    from_4d = read_image(tmp_path / "from_4d" / "p.nii.gz")
    from_files = read_image(tmp_path / "from_files" / "p.nii.gz")
    assert from_4d.spatial_shape == (3, 41, 35) and len(np.unique(from_files.array)) > 1
    np.testing.assert_array_equal(from_4d.array, from_files.array)
    assert from_4d.geometry_matches(from_files) == []
