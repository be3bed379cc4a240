"""The README's path: ``svseg import`` a folder of 0/255 masks, then ``svseg evaluate`` against that same folder.

References stay in the user's convention (0/255 PNGs, volumes labelled {0, 1, 4}, palette
indices); predictions are svseg's labels. Expected scores are computed here with NumPy from
the arrays the tests write, never by svseg's code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image as PILImage
from typer.testing import CliRunner

from svseg.cli import app

runner = CliRunner()
SHAPE = (48, 48)
CENTRES = ((12, 12), (20, 30), (30, 16), (34, 34))


def disk(centre: tuple[int, int], radius: int = 6, value: int = 255) -> np.ndarray:
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    mask = np.zeros(SHAPE, np.uint8)
    mask[(yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2] = value
    return mask


def save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path)


def dice(ref: np.ndarray, pred: np.ndarray) -> float:
    return 2 * np.count_nonzero(ref & pred) / (np.count_nonzero(ref) + np.count_nonzero(pred))


def text(result) -> str:
    """The command's output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


@pytest.fixture
def nuclei(tmp_path: Path) -> tuple[Path, Path, float]:
    """A user folder of images + 0/255 masks imported as 'Nuclei', and 0/1 predictions (discs moved 1-2 px).

    Returns (the user's original mask folder, the prediction folder, the NumPy mean Dice).
    """
    rng = np.random.default_rng(0)
    source, preds, scores = tmp_path / "nuclei", tmp_path / "preds", []
    for i, centre in enumerate(CENTRES):
        save(source / "images" / f"img{i}.png", rng.integers(0, 255, SHAPE, dtype=np.uint8))
        reference = disk(centre)
        save(source / "labels" / f"img{i}.png", reference)
        prediction = disk((centre[0] + 1, centre[1] + i % 3), radius=6 - i % 2, value=1)
        save(preds / f"img{i}.png", prediction)
        scores.append(dice(reference > 0, prediction > 0))
    imported = runner.invoke(app, ["import", "-i", str(source), "-n", "Nuclei"])
    assert imported.exit_code == 0, imported.output
    return source / "labels", preds, float(np.mean(scores))


def evaluate(preds: Path, gt: Path, out: Path, *extra: str):
    return runner.invoke(app, ["evaluate", "-p", str(preds), "-g", str(gt), "-o", str(out), "-j", "1", *extra])


def metrics_of(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


def test_import_recorded_the_0_255_mapping(nuclei: tuple[Path, Path, float], isolated_data_root: Path) -> None:
    dataset_json = next((isolated_data_root / "raw").glob("Dataset*_Nuclei")) / "dataset.json"
    assert json.loads(dataset_json.read_text(encoding="utf-8"))["svseg"]["label_mapping"] == {"0": 0, "255": 1}


@pytest.mark.parametrize("extra", [(), ("-d", "Nuclei")], ids=["conventions", "dataset"])
def test_0_1_predictions_against_the_original_0_255_masks(nuclei: tuple[Path, Path, float], tmp_path: Path,
                                                          extra: tuple[str, ...]) -> None:
    gt, preds, expected = nuclei
    before = {p.name: p.read_bytes() for p in gt.iterdir()}
    result = evaluate(preds, gt, tmp_path / "out", *extra)
    assert result.exit_code == 0, result.output
    metrics = metrics_of(tmp_path / "out")
    # one disc per image: its zone is the whole slice, so object Dice equals image Dice
    assert metrics["image"]["all"]["dice"] == pytest.approx(expected, abs=1e-12)
    assert metrics["object"]["all"]["dice"] == pytest.approx(expected, abs=1e-12)
    assert expected > 0.6 and metrics["settings"]["labels"].keys() == {"1"}
    values = metrics["settings"]["values"]
    assert values["reference_files"] == {"as_labels": 0, "mapped": 4} and values["unexpected_labels"] == {}
    assert values["label_mapping"] == ({"0": 0, "255": 1} if extra else {"255": 1})
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "4 of 4 reference file(s)" in report
    assert {p.name: p.read_bytes() for p in gt.iterdir()} == before  # the user's masks are only read


def test_0_255_predictions_against_0_255_masks_both_map(nuclei: tuple[Path, Path, float], tmp_path: Path) -> None:
    gt, preds, expected = nuclei
    for path in preds.iterdir():
        save(path, (np.asarray(PILImage.open(path)) * 255).astype(np.uint8))
    result = evaluate(preds, gt, tmp_path / "out")
    assert result.exit_code == 0, result.output
    metrics = metrics_of(tmp_path / "out")
    assert metrics["image"]["all"]["dice"] == pytest.approx(expected, abs=1e-12)
    assert metrics["settings"]["values"]["prediction_files_mapped"] == 4


@pytest.mark.parametrize("extra", [(), ("-d", "Nuclei")], ids=["conventions", "dataset"])
def test_an_extra_label_5_warns_and_is_scored_as_a_false_positive_class(nuclei: tuple[Path, Path, float],
                                                                       tmp_path: Path,
                                                                       extra: tuple[str, ...]) -> None:
    """Label 5 (12 px, away from the disc) in one of four predictions.

    By hand: class 1 keeps its Dice d (a pixel labelled 5 is correctly "not class 1"); class 5
    has no reference pixel, so its only defined slice scores Dice 0 and it has no reference
    objects; the image mean over classes is (d + 0) / 2, the object mean stays d, and the blob
    is a false detection: 4 true of 5 predicted objects, precision 0.8.
    """
    gt, preds, expected = nuclei
    mask = np.asarray(PILImage.open(preds / "img0.png")).copy()
    mask[40:43, 40:44] = 5
    save(preds / "img0.png", mask)
    result = evaluate(preds, gt, tmp_path / "out", *extra)
    assert result.exit_code == 0, result.output
    assert "unexpected predicted label 5 in 1 file(s), 12 px" in text(result)
    metrics = metrics_of(tmp_path / "out")
    assert metrics["settings"]["values"]["unexpected_labels"] == {"5": {"n_files": 1, "n_pixels": 12}}
    image, objects = metrics["image"]["all"], metrics["object"]["all"]
    assert image["per_class"]["1"]["dice"] == pytest.approx(expected, abs=1e-12)
    assert image["per_class"]["5"]["dice"] == 0.0 and image["per_class"]["5"]["n"] == 1
    assert image["dice"] == pytest.approx(expected / 2, abs=1e-12)
    assert objects["dice"] == pytest.approx(expected, abs=1e-12) and objects["per_class"]["5"]["n_objects"] == 0
    overlap = objects["detection"]["overlap"]
    assert (overlap["n_pred"], overlap["n_pred_true"], overlap["precision"]) == (5, 4, pytest.approx(0.8))
    slice_0 = next(s for s in metrics["slices"] if s["case"] == "img0")
    assert slice_0["per_class"]["5"]["fp"] == 12 and slice_0["per_class"]["5"]["tp"] == 0


def _class_2_only(preds: Path) -> tuple[str, str]:
    for path in preds.iterdir():
        save(path, (np.asarray(PILImage.open(path)) * 2).astype(np.uint8))
    return "img0.png", "{0, 2}"


def _one_and_255(preds: Path) -> tuple[str, str]:
    mask = np.asarray(PILImage.open(preds / "img2.png")).copy()
    mask[0:2, 0:2] = 255
    save(preds / "img2.png", mask)
    return "img2.png", "{0, 1, 255}"


@pytest.mark.parametrize("extra", [(), ("-d", "Nuclei")], ids=["conventions", "dataset"])
@pytest.mark.parametrize("breaker", [_class_2_only, _one_and_255])
def test_irreconcilable_values_exit_2_with_one_line(nuclei: tuple[Path, Path, float], tmp_path: Path, breaker,
                                                    extra: tuple[str, ...]) -> None:
    gt, preds, _ = nuclei
    named, values = breaker(preds)
    result = evaluate(preds, gt, tmp_path / "out", *extra)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("svseg: error:")]
    assert len(lines) == 1, result.output
    assert named in text(result) and values in text(result) and "{0, 255}" in text(result)
    assert not (tmp_path / "out").exists() and not (preds / "evaluation").exists()


def test_a_reference_in_neither_space_is_refused_with_a_dataset(nuclei: tuple[Path, Path, float],
                                                                tmp_path: Path) -> None:
    gt, preds, _ = nuclei
    mask = np.asarray(PILImage.open(gt / "img3.png")).copy()
    mask[0:3, 0:3] = 128
    save(gt / "img3.png", mask)
    result = evaluate(preds, gt, tmp_path / "out", "-d", "Nuclei")
    assert result.exit_code == 2, result.output
    assert "img3.png" in text(result) and "{0, 128, 255}" in text(result)
    without = evaluate(preds, gt, tmp_path / "out")  # 255 beside another grey level: not a 0/255 mask
    assert without.exit_code == 2 and "-d DATASET" in text(without)
    assert not (tmp_path / "out").exists()


def test_ignore_value_255_leaves_those_pixels_out(tmp_path: Path) -> None:
    """{0, 1, 255} references: 255 is nnU-Net's ignore label only when the user says so."""
    ref = disk((20, 20), value=1)
    ref[0:10, 0:10] = 255
    pred = disk((21, 20), value=1)
    pred[2:5, 2:5] = 1  # inside the ignored square: not a false positive
    save(tmp_path / "gt" / "a.png", ref)
    save(tmp_path / "pred" / "a.png", pred)
    refused = evaluate(tmp_path / "pred", tmp_path / "gt", tmp_path / "out")
    assert refused.exit_code == 2 and "--ignore-value 255" in text(refused)
    result = evaluate(tmp_path / "pred", tmp_path / "gt", tmp_path / "out", "--ignore-value", "255")
    assert result.exit_code == 0, result.output
    metrics = metrics_of(tmp_path / "out")
    valid = ref != 255
    expected = dice((ref == 1) & valid, (pred == 1) & valid)
    assert metrics["image"]["all"]["dice"] == pytest.approx(expected, abs=1e-12)
    assert metrics["settings"]["ignore_label"] == 255 and metrics["settings"]["values"]["ignore_value"] == 255


def write_volume(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 2.5))
    image.SetOrigin((-10.0, 5.0, 20.0))
    sitk.WriteImage(image, str(path))


def test_volumes_labelled_0_1_4_with_the_dataset_mapping(tmp_path: Path) -> None:
    """Import maps {0, 1, 4} to {0, 1, 2}; predictions hold {0, 1, 2}; references keep 0/1/4."""
    rng = np.random.default_rng(1)
    source, preds = tmp_path / "vols", tmp_path / "preds"
    per_class: dict[int, list[float]] = {1: [], 2: []}
    for i, present in enumerate(((1, 4), (1,), (4,))):
        ref = np.zeros((6, 20, 16), np.uint8)
        pred = np.zeros_like(ref)
        for value, label, rows in ((1, 1, slice(2, 8)), (4, 2, slice(11, 17))):
            if value in present:
                ref[1:4, rows, 3:9] = value
                pred[1:4, rows.start + i:rows.stop + i, 4:10] = label
        write_volume(source / "images" / f"vol{i}.nii.gz", rng.integers(0, 500, ref.shape).astype(np.int16))
        write_volume(source / "labels" / f"vol{i}.nii.gz", ref)
        write_volume(preds / f"vol{i}.nii.gz", pred)
        for value, label in ((1, 1), (4, 2)):
            if value in present:
                per_class[label].append(dice(ref == value, pred == label))
    imported = runner.invoke(app, ["import", "-i", str(source), "-n", "Vols"])
    assert imported.exit_code == 0, imported.output
    result = evaluate(preds, source / "labels", tmp_path / "out", "-d", "Vols")
    assert result.exit_code == 0, result.output
    metrics = metrics_of(tmp_path / "out")
    assert metrics["settings"]["values"]["label_mapping"] == {"0": 0, "1": 1, "4": 2}
    assert metrics["settings"]["values"]["reference_files"] == {"as_labels": 1, "mapped": 2}
    for label, scores in per_class.items():
        assert metrics["volume"]["mean"][str(label)]["dice"] == pytest.approx(np.mean(scores), abs=1e-12)
    unmapped = evaluate(preds, source / "labels", tmp_path / "raw_values")  # without -d: 4 is a class of its own
    assert unmapped.exit_code == 0 and "unexpected predicted label 2" in text(unmapped)


def test_palette_indices_renumbered_by_import(tmp_path: Path) -> None:
    """Palette masks using indices {0, 2, 3}: import maps them to {0, 1, 2}.

    A mask holding only {0, 2} reads differently as labels (class 2) and as source values
    (class 1); the folder's other masks, which hold 3, show they are source values.
    """
    colours = [0, 0, 0, 0, 0, 0, 255, 0, 0, 0, 255, 0]  # index 2 red, index 3 green
    source, preds, scores = tmp_path / "pal", tmp_path / "preds", {1: [], 2: []}
    for i, present in enumerate(((2, 3), (2,), (3,))):
        ref = np.zeros(SHAPE, np.uint8)
        pred = np.zeros(SHAPE, np.uint8)
        for value, label, centre in ((2, 1, (12, 12)), (3, 2, (32, 32))):
            if value in present:
                ref[disk(centre) > 0] = value
                pred[disk((centre[0] + i, centre[1]), radius=5) > 0] = label
                scores[label].append(dice(ref == value, pred == label))
        image = PILImage.fromarray(ref, mode="P")
        image.putpalette(colours + [0] * (768 - len(colours)))
        (source / "labels").mkdir(parents=True, exist_ok=True)
        image.save(source / "labels" / f"p{i}.png")
        save(source / "images" / f"p{i}.png", np.full(SHAPE, 40 * i, np.uint8))
        save(preds / f"p{i}.png", pred)
    imported = runner.invoke(app, ["import", "-i", str(source), "-n", "Pal"])
    assert imported.exit_code == 0, imported.output
    result = evaluate(preds, source / "labels", tmp_path / "out", "-d", "Pal")
    assert result.exit_code == 0, result.output
    metrics = metrics_of(tmp_path / "out")
    assert metrics["settings"]["values"]["reference_files"] == {"as_labels": 0, "mapped": 3}
    for label, values in scores.items():
        assert metrics["image"]["all"]["per_class"][str(label)]["dice"] == pytest.approx(np.mean(values), abs=1e-12)
