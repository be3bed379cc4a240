"""The synthetic 3D generator: seeded, CT-like geometry, and objects in every stratum.

Strata are measured here independently of svseg (scipy connected components, 8-connected, per
slice, ratio = object pixels / slice pixels), as the evaluation protocol defines them.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from svseg.demo.synthetic3d import LABELS, SyntheticSpec, generate_case, write_synthetic_dataset

SMALL_SPEC = SyntheticSpec(num_cases=3, seed=7)


def _object_ratios(labels: np.ndarray, label: int) -> list[float]:
    slice_pixels = labels.shape[1] * labels.shape[2]
    ratios: list[float] = []
    for plane in labels:
        components, count = ndimage.label(plane == label, structure=np.ones((3, 3)))
        if count:
            ratios.extend((np.bincount(components.ravel())[1:] / slice_pixels).tolist())
    return ratios


def test_same_seed_gives_byte_identical_arrays() -> None:
    first = generate_case(SMALL_SPEC, 1)
    second = generate_case(SyntheticSpec(num_cases=3, seed=7), 1)
    assert first[0].tobytes() == second[0].tobytes()
    assert first[1].tobytes() == second[1].tobytes()


def test_other_seed_or_case_differs() -> None:
    base = generate_case(SMALL_SPEC, 0)[0]
    assert base.tobytes() != generate_case(SyntheticSpec(seed=8), 0)[0].tobytes()
    assert base.tobytes() != generate_case(SMALL_SPEC, 1)[0].tobytes()


def test_objects_span_ultra_small_small_and_large() -> None:
    ratios = {label: [] for label in (1, 2, 3)}
    for index in range(SMALL_SPEC.num_cases):
        _, labels = generate_case(SMALL_SPEC, index)
        assert set(np.unique(labels)) <= set(LABELS.values())
        for label in ratios:
            ratios[label] += _object_ratios(labels, label)
    everything = np.concatenate([np.array(values) for values in ratios.values()])
    assert (everything < 0.01).sum() >= 10, "ultra-small objects (< 1 % of the slice)"
    assert ((everything >= 0.01) & (everything < 0.1)).sum() >= 10, "small objects (1-10 %)"
    assert (everything >= 0.1).sum() >= 5, "large objects (>= 10 %)"
    assert max(ratios[3]) < 0.01, "nodules are all ultra-small"
    assert max(ratios[1]) >= 0.1, "the organ is large at its centre"
    lesions = np.array(ratios[2])
    assert ((lesions >= 0.01) & (lesions < 0.1)).any()


def test_intensities_are_hu_and_classes_overlap() -> None:
    hu, labels = generate_case(SMALL_SPEC, 0)
    assert hu.dtype == np.int16 and labels.dtype == np.uint8
    assert hu.min() < -900, "air outside the body"
    organ, lesion = hu[labels == 1], hu[labels == 2]
    assert np.median(lesion) < np.median(organ)
    # not separable by a threshold: the lesion's upper tail reaches into the organ's lower tail
    assert np.percentile(lesion, 90) > np.percentile(organ, 10)


def test_written_files_keep_ct_geometry(tmp_path) -> None:
    dataset = write_synthetic_dataset(tmp_path, SyntheticSpec(num_cases=2, shape_zyx=(6, 48, 48), seed=3))
    assert dataset.case_ids == ("synth_000", "synth_001")
    image = sitk.ReadImage(str(dataset.images_dir / "synth_001.nii.gz"))
    label = sitk.ReadImage(str(dataset.labels_dir / "synth_001.nii.gz"))
    assert np.allclose(image.GetSpacing(), (0.8, 0.8, 3.0))
    assert np.allclose(image.GetOrigin(), (-48.7, -62.3, 112.5), atol=1e-3)
    assert not np.allclose(image.GetDirection(), np.eye(3).ravel(), atol=1e-3)
    assert np.allclose(image.GetDirection(), label.GetDirection(), atol=1e-5)
    expected_hu, expected_labels = generate_case(SyntheticSpec(num_cases=2, shape_zyx=(6, 48, 48), seed=3), 1)
    assert np.array_equal(sitk.GetArrayFromImage(image), expected_hu)
    assert np.array_equal(sitk.GetArrayFromImage(label), expected_labels)
