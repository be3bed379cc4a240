"""STS-Net amplification in the training loader: the 15 copies, the lesion crop, weighted draws, a short training."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
from nnunetv2.utilities.label_handling.label_handling import LabelManager
from scipy import ndimage, stats

from svseg.errors import SvsegError
from svseg.planning import amplification as amp
from svseg.planning.plans import parse_amplification
from svseg.training.amplified_sampling import (
    IDENTITY,
    LESION_CROP,
    AmplifiedDataset,
    apply_op,
    copy_op,
    lesion_crop_op,
    training_fold_plan,
    unit_options,
)

SIDE = 96  # 480 / 5: the script's margins 50, 75, 100, 125, 25 px become 10, 15, 20, 25, 5 px exactly
MARGIN_PX = {50: 10, 75: 15, 100: 20, 125: 25, 25: 5}
# the 15 copies of 3_augu_labeled2.py, as in peer-networks.md §2.5: flip, row margin, column margin (px of 480)
SCRIPT_TABLE = {1: ("V", 0, 0), 2: ("H", 0, 0), 3: ("", 50, 50), 4: ("H", 50, 50), 5: ("V", 50, 50),
                6: ("V", 50, 0), 7: ("V", 0, 50), 8: ("", 75, 75), 9: ("H", 75, 75), 10: ("", 100, 100),
                11: ("H", 100, 100), 12: ("", 125, 125), 13: ("H", 125, 125), 14: ("", 25, 25), 15: ("H", 25, 25)}


def _labelled_slice() -> tuple[np.ndarray, np.ndarray]:
    """A smooth but asymmetric image and a label with three objects of different classes."""
    rows, cols = np.mgrid[:SIDE, :SIDE].astype(np.float32)
    image = np.sin(rows / 7.0) + 0.02 * cols * rows / SIDE + 0.3 * (cols > 60)
    label = np.zeros((SIDE, SIDE), np.int8)
    label[20:29, 30:41] = 1
    label[60:75, 12:20] = 2
    label[44:47, 70:90] = 1
    return image[None], label[None]


def _reference(planes: np.ndarray, flip: str, rows: int, cols: int, mode: str) -> np.ndarray:
    """numpy flip + slicing, then PyTorch's resize back to SIDE x SIDE (half-pixel centres, like cv2)."""
    flipped = planes[:, ::-1] if flip == "V" else planes[:, :, ::-1] if flip == "H" else planes
    r, c = MARGIN_PX.get(rows, 0), MARGIN_PX.get(cols, 0)
    crop = np.ascontiguousarray(flipped[:, r:SIDE - r, c:SIDE - c], dtype=np.float32)
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(torch.from_numpy(crop)[None], size=(SIDE, SIDE), mode=mode, **kwargs)[0].numpy()


@pytest.mark.parametrize("copy_id", sorted(SCRIPT_TABLE))
def test_each_copy_matches_slicing_and_resizing(copy_id: int) -> None:
    image, label = _labelled_slice()
    flip, rows, cols = SCRIPT_TABLE[copy_id]
    op = copy_op(amp.COPIES[copy_id], (SIDE, SIDE))
    np.testing.assert_allclose(apply_op(image, op, 1), _reference(image, flip, rows, cols, "bilinear"), atol=1e-5)
    moved = apply_op(label, op, 0)
    assert moved.dtype == label.dtype
    np.testing.assert_array_equal(moved, _reference(label, flip, rows, cols, "nearest-exact").astype(np.int8))


def test_anisotropic_copies_stretch_one_axis_only() -> None:
    _, label = _labelled_slice()
    rows_only = apply_op(label, copy_op(amp.COPIES[6], (SIDE, SIDE)), 0)[0]
    # copy 6: rows [10:86] stretched by 96/76, columns untouched (only flipped up-down)
    assert (rows_only != 0).any(axis=0).sum() == (label[0] != 0).any(axis=0).sum()
    assert (rows_only != 0).any(axis=1).sum() > (label[0] != 0).any(axis=1).sum()


def _components(mask: np.ndarray) -> list[tuple[slice, slice]]:
    labelled, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    return ndimage.find_objects(labelled)


def test_lesion_crop_is_centred_on_a_lesion_and_keeps_it_whole() -> None:
    _, label = _labelled_slice()
    mask = label[0] > 0
    lesions = _components(mask)
    rng = np.random.RandomState(0)
    centres = set()
    for _ in range(60):
        op = lesion_crop_op(mask, rng)
        r0, r1, c0, c1 = op.box
        assert 0 <= r0 < r1 <= SIDE and 0 <= c0 < c1 <= SIDE and not (op.flip_rows or op.flip_cols)
        kept = [k for k, (rs, cs) in enumerate(lesions)
                if np.isclose(r0 + r1, rs.start + rs.stop) and np.isclose(c0 + c1, cs.start + cs.stop)]
        assert len(kept) == 1  # centred on the bounding box of one lesion ...
        rs, cs = lesions[kept[0]]
        assert r0 <= rs.start and rs.stop <= r1 and c0 <= cs.start and cs.stop <= c1  # ... holding all of it
        half = (r1 - r0) / 2
        assert half <= 160 / 480 * SIDE + 1e-9  # 150-160 px of 480, less only where clamped at a border
        centres.add(kept[0])
    assert centres == {0, 1, 2}  # a random lesion, not always the first
    # the lesion is whole after the zoom too: its pixels grow by about the zoom squared
    op = lesion_crop_op(mask, np.random.RandomState(3))
    zoom = SIDE / (op.box[1] - op.box[0]) * SIDE / (op.box[3] - op.box[2])
    moved = apply_op(label, op, 0)[0] > 0
    assert moved.sum() >= 0.8 * zoom * min(mask[r, c].sum() for r, c in lesions)
    assert lesion_crop_op(np.zeros((8, 8), bool), rng) is None


def test_lesion_crop_near_a_border_shrinks_symmetrically() -> None:
    mask = np.zeros((SIDE, SIDE), bool)
    mask[2:6, 40:44] = True  # bbox centre row 4: at most 4 px above
    op = lesion_crop_op(mask, np.random.RandomState(1))
    assert op.box[:2] == (0.0, 8.0) and op.box[2] >= 0 and op.box[3] <= SIDE


class _Cases:
    """nnU-Net's dataset interface (identifiers, load_case) over in-memory 2D cases or volumes."""

    def __init__(self, cases: dict[str, tuple[np.ndarray, np.ndarray]], offsets: dict[str, int] | None = None) -> None:
        self.cases = cases
        self.identifiers = sorted(cases)
        self.offsets = offsets or {}

    def load_case(self, identifier: str) -> tuple[np.ndarray, np.ndarray, None, dict]:
        from nnunetv2.preprocessing.preprocessors.default_preprocessor import DefaultPreprocessor

        data, seg = self.cases[identifier]
        offset = self.offsets.get(identifier, 0)
        properties = {"class_locations": DefaultPreprocessor._sample_foreground_locations(seg, [1]),
                      "bbox_used_for_cropping": [[offset, offset + data.shape[1]], [0, SIDE], [0, SIDE]]}
        return data, seg, None, properties


def _toy_cases() -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, dict[int, float]]]:
    """Four 2D cases whose lesions are 16, 25, 100 and 400 px, plus one without foreground."""
    cases, areas = {}, {}
    for index, side in enumerate((4, 5, 10, 20, 0)):  # 16, 25, 100, 400 px
        seg = np.zeros((1, 1, SIDE, SIDE), np.int8)
        seg[0, 0, 30:30 + side, 40:40 + side] = 1
        data = np.random.default_rng(index).normal(size=(1, 1, SIDE, SIDE)).astype(np.float32) + seg
        cases[f"c{index}"] = (data, seg)
        if side:
            areas[f"c{index}"] = {0: float(side * side)}
    return cases, areas


def _loader(dataset: object) -> nnUNetDataLoader:
    labels = LabelManager({"background": 0, "lesion": 1}, regions_class_order=None)
    return nnUNetDataLoader(dataset, 4, (64, 64), (64, 64), labels, oversample_foreground_percent=0.5)


def _draw(loader: nnUNetDataLoader, batches: int) -> tuple[dict[str, int], int]:
    counts: dict[str, int] = {}
    transformed = 0
    for _ in range(batches):
        batch = loader.generate_train_batch()
        for key in batch["keys"]:
            counts[key] = counts.get(key, 0) + 1
        transformed += int(batch["data"].shape[0])
    return counts, transformed


def test_amplification_changes_what_the_loader_draws() -> None:
    cases, areas = _toy_cases()
    plan = amp.plan_fold(areas, sorted(cases), "two-tier", amp.DEFAULT_MAX_WEIGHT)
    # 16, 25, 100, 400 px: S = 541, A = 4, 135.25 -> 12 -> N1 = 144; 72 -> 9 -> N2 = 81
    weights = {"c0": 17, "c1": 17, "c2": 9, "c3": 2, "c4": 1}
    assert {case: plan.case_weight(case) for case in cases} == weights
    draws = 250 * 4
    np.random.seed(0)
    plain, _ = _draw(_loader(_Cases(cases)), 250)
    np.random.seed(0)
    amplified, _ = _draw(_loader(AmplifiedDataset(_Cases(cases), plan, [1], [1])), 250)
    keys = sorted(cases)
    expected = np.array([weights[k] for k in keys], float) / sum(weights.values()) * draws
    uniform = np.full(len(keys), draws / len(keys))
    observed = np.array([amplified.get(k, 0) for k in keys])
    assert stats.chisquare(observed, expected).pvalue > 1e-3  # frequencies follow the weights ...
    assert stats.chisquare(observed, uniform).pvalue < 1e-12  # ... and not nnU-Net's uniform draw
    assert stats.chisquare(np.array([plain.get(k, 0) for k in keys]), uniform).pvalue > 1e-3


def test_a_drawn_case_gets_one_of_its_tiers_ops() -> None:
    cases, areas = _toy_cases()
    plan = amp.plan_fold(areas, sorted(cases), "two-tier", amp.DEFAULT_MAX_WEIGHT)
    dataset = AmplifiedDataset(_Cases(cases), plan, [1], [1])
    assert unit_options(plan.units["c3"][0]) == [IDENTITY, LESION_CROP]
    assert len(unit_options(plan.units["c0"][0])) == 17
    original = cases["c0"][0]
    np.random.seed(5)
    same = 0
    for _ in range(340):
        data, seg, _, properties = dataset.load_case("c0")
        assert data.shape == original.shape and seg.shape == original.shape
        same += int(np.array_equal(data, original))
        locations = properties["class_locations"][1]
        assert len(locations) and all(seg[tuple(v)] == 1 for v in locations[:50])  # oversampling sees the new lesion
    assert 5 <= same <= 40  # identity is 1 of 17 options: about 20 of 340 draws
    copied = pickle.loads(pickle.dumps(dataset))  # as nnU-Net's spawned augmentation workers receive it
    assert copied.identifiers == dataset.identifiers and copied.cases is not None
    untouched = dataset.load_case("c4")
    assert untouched[0] is cases["c4"][0]  # a case without foreground is never transformed


def test_volumes_hand_over_one_amplified_slice() -> None:
    seg = np.zeros((1, 5, SIDE, SIDE), np.int8)
    seg[0, 2, 40:44, 40:44] = 1  # 16 px in stored slice 2 = raw slice 3 (cropping removed one slice)
    seg[0, 4, 10:60, 10:60] = 1
    data = np.random.default_rng(0).normal(size=seg.shape).astype(np.float32)
    areas = {"v": {3: 16.0, 5: 2500.0}, "w": {0: 2500.0}}
    plan = amp.plan_fold(areas, ["v", "w"], "two-tier", amp.DEFAULT_MAX_WEIGHT)
    assert plan.case_weight("v") == 17
    dataset = AmplifiedDataset(_Cases({"v": (data, seg)}, offsets={"v": 1}), plan, [1], [1])
    assert dataset.identifiers == ["v"] * 17
    np.random.seed(2)
    whole = 0
    for _ in range(170):
        got, got_seg, _, _ = dataset.load_case("v")
        if got.shape[1] == 5:
            whole += 1  # nnU-Net's own slice choice
        else:
            assert got.shape == (1, 1, SIDE, SIDE) and (got_seg == 1).sum() >= 16
    assert 2 <= whole <= 25  # 1 / 17 of the draws: about 10


def test_fold_plan_matches_the_plans_or_is_recomputed() -> None:
    _, areas = _toy_cases()
    section = amp.plan_section("two-tier", areas, {"0": ["c0", "c1", "c2"], "all": ["c0", "c1", "c2", "c3", "c4"]})
    amplification = parse_amplification(section, "plans")
    plan, source = training_fold_plan(amplification, ["c2", "c1", "c0"], 0)
    assert source == "fold 0 of the plans" and plan.limits.n1 == section["folds"]["0"]["N1"]
    _, source = training_fold_plan(amplification, ["c0", "c3"], 0)
    assert source.startswith("recomputed")
    section["folds"]["0"]["N1"] = 169  # a square, but not what the areas give
    with pytest.raises(SvsegError, match="re-run svseg plan-and-preprocess"):
        training_fold_plan(parse_amplification(section, "plans"), ["c0", "c1", "c2"], 0)


def test_trainer_wraps_only_the_training_dataset(data_root: Path) -> None:
    import json

    from svseg.paths import export_nnunet_environment
    from svseg.planning.api import plan_and_preprocess
    from svseg.training.trainer import SvsegTrainer

    planned = plan_and_preprocess("Disks", preset="cpu_quick", num_processes=1, preprocess=False,
                                  amplification="code")
    export_nnunet_environment()
    folder = planned.plans.path.parent
    trainer = SvsegTrainer(json.loads(planned.plans.path.read_text(encoding="utf-8")), "2d", 1,
                           json.loads((folder / "dataset.json").read_text(encoding="utf-8")), torch.device("cpu"))
    training, validation = trainer.get_tr_and_val_datasets()
    assert isinstance(training, AmplifiedDataset) and not isinstance(validation, AmplifiedDataset)
    fold = planned.plans.amplification.folds["1"]
    assert sorted(set(training.identifiers)) == sorted(fold["training"])
    assert not set(validation.identifiers) & set(fold["training"])
    for case in fold["training"]:  # each case listed as often as its planned weight
        assert training.identifiers.count(case) == max(fold["weights"].get(case, [1]))
    data, seg, _, _ = training.load_case(fold["training"][0])
    assert data.shape[-2:] == seg.shape[-2:]
    log = next(Path(trainer.output_folder).glob("training_log_*.txt")).read_text(encoding="utf-8")
    assert "amplification code (fold 1 of the plans)" in log


def test_trainer_on_volumes_hands_over_amplified_slices(data_root: Path) -> None:
    import json

    from svseg.paths import export_nnunet_environment
    from svseg.planning.api import plan_and_preprocess
    from svseg.training.trainer import SvsegTrainer

    planned = plan_and_preprocess("Vols", preset="cpu_quick", num_processes=1, preprocess=False,
                                  amplification="two-tier")
    areas = planned.plans.amplification.areas
    assert all(len(found) == 6 for found in areas.values())  # disks in each of the 6 slices of every volume
    export_nnunet_environment()
    folder = planned.plans.path.parent
    trainer = SvsegTrainer(json.loads(planned.plans.path.read_text(encoding="utf-8")), "2d", "all",
                           json.loads((folder / "dataset.json").read_text(encoding="utf-8")), torch.device("cpu"))
    training, _ = trainer.get_tr_and_val_datasets()
    case = max(training.plan.units, key=training.plan.case_weight)
    np.random.seed(0)
    shapes = [training.load_case(case)[1].shape[1] for _ in range(60)]  # blosc2 arrays, as stored
    weight = training.plan.case_weight(case)
    assert weight > 2 and set(shapes) == {1, 6}
    assert 60 / weight / 4 <= shapes.count(6) <= 60 / weight * 4  # nnU-Net's own slice choice: 1 / w of draws


@pytest.mark.slow
def test_short_training_with_amplification(data_root: Path) -> None:
    from svseg.planning.api import plan_and_preprocess
    from svseg.training.api import train

    torch.set_num_threads(1)
    planned = plan_and_preprocess("Disks", preset="cpu_quick", num_processes=1, amplification="two-tier")
    assert planned.plans.amplification.mode == "two-tier" and planned.preprocessing.startswith("up to date")
    result = train("Disks", 0, arch="svanet_tiny", device="cpu", epochs=1, iters_per_epoch=1, batch_size=2)
    log = next(result.fold_dir.glob("training_log_*.txt")).read_text(encoding="utf-8")
    assert "amplification two-tier (fold 0 of the plans)" in log
    assert (result.fold_dir / "checkpoint_final.pth").is_file()
