"""Overlays: images found by case id, windowed sensibly, outlines and circles drawn, volumes' misses shown."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image as PILImage
from typer.testing import CliRunner

from svseg.cli import app
from svseg.errors import SvsegError
from svseg.evaluation import evaluate_folders
from svseg.evaluation.inputs import pair_cases
from svseg.evaluation.overlay_data import CT_WINDOW, find_images, load_views, windowed
from svseg.evaluation.overlays import COLOURS, choose_figures, draw_figure, short_id

from .examples import blank, box, write_pngs

LONG_ID = "patient_0042_series_7_t2w_axial_export_2023-11-05T10-42-17"


def _colour_pixels(path: Path, hex_colour: str, tolerance: int = 40) -> int:
    """How many pixels of the PNG lie within `tolerance` (per channel) of the colour."""
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    with PILImage.open(path) as image:
        rgb = np.asarray(image.convert("RGB")).astype(int)
    return int(np.all(np.abs(rgb - target) <= tolerance, axis=-1).sum())


def _panel_pixels(metrics: dict, pred: Path, gt: Path, images: dict[str, Path]) -> np.ndarray:
    """The pixels shown under panel #1 of the worst-slices figure of ``all`` (what imshow received)."""
    figure = next(f for f in choose_figures(metrics) if f.name == "overlay_all_slices.png")
    pairs = {p.case: p for p in pair_cases(pred, gt)}
    panel = figure.panels[0]
    view = load_views(pairs[panel.case], images.get(panel.case), None, {panel.slice})[panel.slice]
    drawn = draw_figure(figure, [view] + [view] * (len(figure.panels) - 1), {})
    return np.asarray(drawn.axes[0].images[0].get_array())


def _case_with_misses() -> tuple[np.ndarray, np.ndarray]:
    """A detected 12 x 12 object, a missed 5 x 5 object and a 3 x 3 false detection on 100 x 100."""
    ref, pred = blank(), blank()
    ref[box(20, 31, 20, 31)] = 1
    pred[box(21, 32, 20, 31)] = 1
    ref[box(70, 74, 70, 74)] = 1
    pred[box(10, 12, 80, 82)] = 1
    return ref, pred


def _folders(tmp_path: Path, cases: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[Path, Path, Path]:
    gt = write_pngs(tmp_path / "gt", {name: ref for name, (ref, _) in cases.items()})
    pred = write_pngs(tmp_path / "pred", {name: p for name, (_, p) in cases.items()})
    gradient = np.tile(np.linspace(0, 255, 100).astype(np.uint8), (100, 1))
    images = write_pngs(tmp_path / "images", {f"{name}_0000": gradient for name in cases})
    return pred, gt, images


def test_images_are_found_by_case_id_in_both_namings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = write_pngs(tmp_path / "images", {"a_0000": blank(), "a_0001": blank(), "b": blank(), "x": blank()})
    with caplog.at_level(logging.WARNING):
        found = find_images(folder, ["a", "b", "c"])
    assert found == {"a": folder / "a_0000.png", "b": folder / "b.png"}
    assert "c" in caplog.text and "masks only" in caplog.text
    with pytest.raises(SvsegError, match="no image for any case"):
        find_images(folder, ["c", "d"])
    with pytest.raises(SvsegError, match="does not exist"):
        find_images(tmp_path / "nowhere", ["a"])


def test_ct_gets_the_soft_tissue_window_and_other_images_their_percentiles() -> None:
    ct = np.array([[-1000.0, -160.0], [40.0, 240.0]])
    display, name = windowed(ct, 1)
    assert CT_WINDOW == (-160.0, 240.0) and "CT" in name
    assert display.tolist() == [[0.0, 0.0], [0.5, 1.0]]
    mri = np.random.default_rng(0).gamma(2.0, 100.0, size=(64, 64))
    display, name = windowed(mri, 1)
    low, high = np.percentile(mri, [1, 99])
    assert "percentile" in name
    assert np.allclose(display, np.clip((mri - low) / (high - low), 0, 1))
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    display, name = windowed(rgb, 3)
    assert display.shape == (4, 4, 3) and display[..., 0].min() == 1.0 and display[..., 1].max() == 0.0
    channels = np.stack([mri, -mri], axis=-1)  # a two-channel case shows its first channel
    assert np.allclose(windowed(channels, 2)[0], windowed(mri, 1)[0])


def test_overlays_draw_the_image_outlines_and_circles(tmp_path: Path) -> None:
    pred, gt, images = _folders(tmp_path, {LONG_ID: _case_with_misses()})
    result = evaluate_folders(pred, gt, tmp_path / "out", num_workers=1, images_dir=images)
    slices = tmp_path / "out" / "overlay_all_slices.png"
    assert slices in result.plot_paths
    for role in ("reference", "prediction", "missed", "false"):
        assert _colour_pixels(slices, COLOURS[role]) > 80, role
    shown = _panel_pixels(result.metrics, pred, gt, {LONG_ID: images / f"{LONG_ID}_0000.png"})
    gradient = np.linspace(0, 255, 100)
    low, high = np.percentile(np.tile(gradient, (100, 1)), [1, 99])
    assert np.allclose(shown, np.tile(np.clip((gradient - low) / (high - low), 0, 1), (100, 1)), atol=1 / 255)
    report = result.report_path.read_text(encoding="utf-8")
    assert f"| #1 | {LONG_ID} |" in report and "1st-99th percentile" in report  # full id beside the panel
    assert "outlines on the images of" in report


def test_without_images_the_overlays_show_masks_and_the_report_says_so(tmp_path: Path) -> None:
    pred, gt, _ = _folders(tmp_path, {"a": _case_with_misses()})
    result = evaluate_folders(pred, gt, tmp_path / "out", num_workers=1)
    slices = tmp_path / "out" / "overlay_all_slices.png"
    assert _colour_pixels(slices, COLOURS["missed"]) > 80
    assert np.ptp(_panel_pixels(result.metrics, pred, gt, {})) == 0  # a plain dark background
    assert result.metrics["settings"]["images"] is None
    assert "masks only" in result.report_path.read_text(encoding="utf-8")
    assert "masks only" in result.html_path.read_text(encoding="utf-8")


def test_a_clean_case_has_no_circles(tmp_path: Path) -> None:
    ref, _ = _case_with_misses()
    pred, gt, images = _folders(tmp_path, {"clean": (ref, ref.copy()), "missed": _case_with_misses()})
    evaluate_folders(pred, gt, tmp_path / "out", num_workers=1, images_dir=images)
    with PILImage.open(tmp_path / "out" / "overlay_all_slices.png") as image:
        width, height = image.size
        image.crop((0, 0, width // 2, height - 60)).save(tmp_path / "first.png")  # panel #1: the missed case
        image.crop((width // 2, 0, width, height - 60)).save(tmp_path / "second.png")  # panel #2: clean
    assert _colour_pixels(tmp_path / "first.png", COLOURS["missed"]) > 100
    assert _colour_pixels(tmp_path / "second.png", COLOURS["missed"]) == 0
    assert _colour_pixels(tmp_path / "second.png", COLOURS["false"]) == 0


def _write_volume(path: Path, array: np.ndarray) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 3.0))  # slices along z (array axis 0), the largest spacing
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))


def test_a_volume_shows_the_slice_of_its_largest_missed_object(tmp_path: Path) -> None:
    ref = np.zeros((8, 48, 48), dtype=np.uint8)
    pred = np.zeros_like(ref)
    ref[1, 10:20, 10:20] = 1
    pred[1, 10:20, 11:21] = 1
    ref[5, 30:36, 30:36] = 1  # missed, 36 px
    ref[6, 5:8, 40:43] = 1  # missed, 9 px
    ct = np.full(ref.shape, -1000, dtype=np.int16)
    ct[:, 4:44, 4:44] = 40 + 100 * ref[:, 4:44, 4:44]
    _write_volume(tmp_path / "gt" / "vol.nii.gz", ref)
    _write_volume(tmp_path / "pred" / "vol.nii.gz", pred)
    _write_volume(tmp_path / "images" / "vol_0000.nii.gz", ct)
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", tmp_path / "out", num_workers=1,
                              images_dir=tmp_path / "images")
    assert tmp_path / "out" / "overlay_volumes_missed.png" in result.plot_paths
    report = result.report_path.read_text(encoding="utf-8")
    section = report.split("### largest missed object of each volume")[1]
    first = next(line for line in section.splitlines() if line.startswith("| #1 |"))
    assert first.startswith("| #1 | vol | 5 | 1 |") and "| 36 |" in first and "CT soft tissue" in first


def test_short_ids_keep_both_ends() -> None:
    assert short_id("case_001") == "case_001"
    short = short_id(LONG_ID)
    assert len(short) == 16 and short.startswith("patient") and short.endswith("10-42-17") and "…" in short


def test_cli_takes_images_and_refuses_a_missing_folder(tmp_path: Path) -> None:
    pred, gt, images = _folders(tmp_path, {"a": _case_with_misses()})
    runner = CliRunner()
    ok = runner.invoke(app, ["evaluate", "-p", str(pred), "-g", str(gt), "-o", str(tmp_path / "out"), "-j", "1",
                             "--images", str(images)])
    assert ok.exit_code == 0, ok.output
    assert "report.html" in ok.output.replace("\n", "")
    bad = runner.invoke(app, ["evaluate", "-p", str(pred), "-g", str(gt), "-o", str(tmp_path / "bad"), "-j", "1",
                              "--images", str(tmp_path / "nowhere")])
    assert bad.exit_code == 2 and "images folder does not exist" in bad.output
    assert not (tmp_path / "bad").exists()
