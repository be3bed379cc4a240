"""How stored mask values are read: per-file conventions, the dataset's recorded mapping, folder checks."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from svseg.errors import SvsegError
from svseg.evaluation.values import (
    ValueRules,
    apply_map,
    check_folder,
    read_case_values,
    settle_ambiguous,
    value_counts,
)

NO_DATASET = ValueRules()
VOLUMES_014 = ValueRules(labels=(0, 1, 2), mapping=((0, 0), (1, 1), (4, 2)))
PALETTE_023 = ValueRules(labels=(0, 1, 2), mapping=((0, 0), (2, 1), (3, 2)))


def mask(*values: int, size: int = 6) -> np.ndarray:
    """A small mask holding `values`, the first one filling the rest."""
    array = np.full((size, size), values[0], np.uint8)
    for k, value in enumerate(values[1:], start=1):
        array[k, :k] = value
    return array


def read(ref: np.ndarray, pred: np.ndarray, rules: ValueRules = NO_DATASET, case: str = "a"):
    return read_case_values(case, Path(f"gt/{case}.png"), Path(f"pred/{case}.png"), ref, pred, rules)


@pytest.mark.parametrize("array", [
    np.random.default_rng(0).integers(0, 6, (40, 50)).astype(np.uint8),
    np.random.default_rng(1).integers(0, 3, (7, 30, 20)).astype(np.uint16) * 300,
    np.array([[0, 70000], [70000, 5]], dtype=np.int32),
    np.random.default_rng(2).integers(0, 3, 5_000_000).astype(np.uint8),  # more than one bincount chunk
], ids=["uint8", "uint16", "beyond_bincount", "chunked"])
def test_value_counts_equal_numpy_unique(array: np.ndarray) -> None:
    values, counts = np.unique(array, return_counts=True)
    assert value_counts(array) == dict(zip(values.tolist(), counts.tolist(), strict=True))


def test_apply_map_replaces_pairs_and_leaves_the_input_alone() -> None:
    array = np.array([[0, 255], [4, 1]], np.uint8)
    assert apply_map(array, ()) is array
    assert apply_map(array, ((255, 1), (4, 2))).tolist() == [[0, 1], [2, 1]]
    assert array.tolist() == [[0, 255], [4, 1]]


def test_a_0_255_reference_is_read_as_0_1_against_label_predictions() -> None:
    values = read(mask(0, 255), mask(0, 1, 5))
    assert (values.ref_space, values.ref_map, values.pred_map) == ("binary_255", ((255, 1),), ())
    assert values.ref_labels == (1,)
    assert values.pred_pixels == ((1, 1), (5, 2))


def test_0_255_against_0_255_both_map_and_1_with_255_is_refused() -> None:
    assert read(mask(0, 255), mask(0, 255)).pred_map == ((255, 1),)
    with pytest.raises(SvsegError, match=r"^pred/a\.png: prediction values \{0, 1, 255\} .* \{0, 255\} \(a\.png\)"):
        read(mask(0, 255), mask(0, 1, 255))


def test_a_binary_0_1_reference_reads_a_0_255_prediction_as_0_1() -> None:
    assert read(mask(0, 1), mask(0, 255)).pred_map == ((255, 1),)
    assert read(mask(0), mask(0, 255)).pred_map == ((255, 1),)
    assert read(mask(0, 1, 2), mask(0, 255)).pred_map == ()  # a multi-class reference: 255 stays a value


def test_255_next_to_other_labels_needs_the_ignore_value() -> None:
    with pytest.raises(SvsegError, match=r"^gt/a\.png: .*\{0, 1, 255\}.*--ignore-value 255"):
        read(mask(0, 1, 255), mask(0, 1))
    values = read(mask(0, 1, 255), mask(0, 1), ValueRules(ignore=255))
    assert (values.ref_space, values.ref_map, values.ref_labels, values.ref_values) == ("labels", (), (1,),
                                                                                        (0, 1, 255))


def test_dataset_references_are_labels_source_values_or_refused() -> None:
    assert (read(mask(0, 1, 4), mask(0, 1), VOLUMES_014).ref_space, read(mask(0, 1, 4), mask(0), VOLUMES_014).ref_map
            ) == ("source", ((4, 2),))
    assert read(mask(0, 1, 2), mask(0), VOLUMES_014).ref_space == "labels"
    assert read(mask(0, 1), mask(0), VOLUMES_014).ref_space == "either"
    with pytest.raises(SvsegError, match=r"^gt/a\.png: reference values \{0, 3\} fit neither the labels \{0, 1, 2\} "
                                         r"nor the source values \{0, 1, 4\}"):
        read(mask(0, 3), mask(0), VOLUMES_014)
    with pytest.raises(SvsegError, match=r"\{0, 1, 7\} are not all labels \{0, 1\}"):
        read(mask(0, 1, 7), mask(0), ValueRules(labels=(0, 1)))


def test_values_valid_in_both_spaces_wait_for_the_folder() -> None:
    assert read(mask(0, 2), mask(0), PALETTE_023).ref_space == "ambiguous"
    as_source = read(mask(0, 2), mask(0), ValueRules(**{**PALETTE_023.__dict__, "reference_space": "source"}))
    assert (as_source.ref_space, as_source.ref_map, as_source.ref_labels) == ("source", ((2, 1),), (1,))
    decided = [read(mask(0, 2), mask(0), PALETTE_023, "x"), read(mask(0, 3), mask(0), PALETTE_023, "y")]
    assert settle_ambiguous(decided, PALETTE_023) == "source"
    with pytest.raises(SvsegError, match=r"^gt/x\.png: .*\(2->1\), and no other reference tells which"):
        settle_ambiguous(decided[:1], PALETTE_023)
    mixed = [*decided, read(mask(0, 1), mask(0), PALETTE_023, "z")]
    with pytest.raises(SvsegError, match="mix both"):
        settle_ambiguous(mixed, PALETTE_023)


def test_dataset_predictions_in_source_values_are_mapped_mixed_ones_refused() -> None:
    assert read(mask(0, 3), mask(0, 2, 3), PALETTE_023).pred_map == ((2, 1), (3, 2))
    assert read(mask(0, 3), mask(0, 2), PALETTE_023).pred_map == ()  # labels first
    with pytest.raises(SvsegError, match=r"^pred/a\.png: prediction values \{0, 1, 3\} .* mixes labels \{1\}"):
        read(mask(0, 3), mask(0, 1, 3), PALETTE_023)


def test_unexpected_labels_are_counted_over_files(caplog: pytest.LogCaptureFixture) -> None:
    readings = [read(mask(0, 255), mask(0, 1, 5), case="a"), read(mask(0, 255), mask(0, 5, 5, 7), case="b")]
    with caplog.at_level(logging.WARNING):
        summary = check_folder(readings, NO_DATASET)
    assert summary["unexpected_labels"] == {"5": {"n_files": 2, "n_pixels": 2 + 3},
                                            "7": {"n_files": 1, "n_pixels": 3}}
    assert summary["reference_files"] == {"as_labels": 0, "mapped": 2} and summary["label_mapping"] == {"255": 1}
    assert "unexpected predicted label 5 in 2 file(s), 5 px" in caplog.text


def test_folder_checks_refuse_what_cannot_be_scored() -> None:
    with pytest.raises(SvsegError, match=r"^pred/a\.png: prediction values \{0, 2\} share no class"):
        check_folder([read(mask(0, 255), mask(0, 2))], NO_DATASET)
    with pytest.raises(SvsegError, match=r"^gt/b\.png: reference values \{0, 128\} do not follow the 0/255"):
        check_folder([read(mask(0, 255), mask(0, 1)), read(mask(0, 128), mask(0, 1), case="b")], NO_DATASET)
    with pytest.raises(SvsegError, match="hold the ignore value 3"):
        rules = ValueRules(labels=(0, 1), ignore=3)
        check_folder([read(mask(0, 1, 3), mask(0, 1, 3), rules)], rules)


def test_empty_references_do_not_make_predictions_unexpected() -> None:
    summary = check_folder([read(mask(0), mask(0, 1))], NO_DATASET)
    assert summary["unexpected_labels"] == {} and summary["reference_files"] == {"as_labels": 1, "mapped": 0}
