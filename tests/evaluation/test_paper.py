"""The paper block's counts, strata and grid resize (B10); the worked numbers are in test_aggregate."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from svseg.evaluation.paper import paper_block, paper_counts, resize_nearest

from .examples import evaluate_arrays, example_1, example_2


def test_counts_include_background() -> None:
    ref, pred = example_1()
    counts = paper_counts(ref[None], pred[None], (1,), None)
    assert counts["inter"].tolist() == [[9965, 20]]
    assert counts["pred"].tolist() == [[9975, 25]] and counts["ref"].tolist() == [[9970, 30]]
    assert counts["mae_sum"].tolist() == [15] and counts["n_pixels"].tolist() == [10_000]


def test_empty_reference_slices_are_in_every_stratum() -> None:
    paper = evaluate_arrays(example_2())["paper"]
    assert [paper[s]["n_slices"] for s in ("ultra_small", "small", "all")] == [3, 3, 3]
    assert paper["all"]["ratio_method"] == "pixels" and "background_included" in paper["quirks"]


def test_a_class_absent_from_every_reference_drops_out() -> None:
    ref, pred = example_1()
    pred[80:85, 80:85] = 2  # class 2 predicted, never in the reference: weight 0
    counts = paper_counts(ref[None], pred[None], (1, 2), None)
    block = paper_block(counts, np.array([0.003]), (0.01, 0.1))
    assert block["all"]["mdice"] == pytest.approx((2 * 9940 / (9970 + 9950) + 8 / 11) / 2, abs=1e-6)


def test_resize_nearest_keeps_labels_and_shape() -> None:
    stack = np.arange(16, dtype=np.int32).reshape(1, 4, 4)
    big = resize_nearest(stack, 8)
    assert big.shape == (1, 8, 8) and set(np.unique(big)) == set(range(16))
    assert (big[0, ::2, ::2] == stack[0]).all()


def test_paper_grid_only_changes_the_paper_block() -> None:
    native = evaluate_arrays({"A": example_1()})
    resized = evaluate_arrays({"A": example_1()}, paper_grid=512)
    assert resized["image"] == native["image"] and resized["object"] == native["object"]
    ref, pred = (np.asarray(PILImage.fromarray(a).resize((512, 512), PILImage.NEAREST)) for a in example_1())
    by_pillow = evaluate_arrays({"A": (ref, pred)})["paper"]
    for name in ("mdice", "miou", "recall", "precision", "f2", "mae"):
        assert resized["paper"]["all"][name] == pytest.approx(by_pillow["all"][name], abs=1e-12)
    assert resized["settings"]["paper_grid"] == 512
