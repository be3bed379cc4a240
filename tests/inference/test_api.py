"""``predict`` end to end: one mask per input, same format family and geometry, any file name."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
from PIL import Image as PILImage

from svseg.errors import SvsegError
from svseg.inference.api import predict
from svseg.io import read_image

from .models import make_model_folder, noisy_volume, write_dicom_series, write_volume


def _image(shape=(50, 37), channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = (rng.random((*shape, channels) if channels > 1 else shape) * 120).astype(np.uint8)
    image[10:25, 8:20] += 120
    return image


def _assert_mask_like(mask_path: Path, source: Path, labels: set[int]) -> np.ndarray:
    mask, reference = read_image(mask_path), read_image(source)
    assert mask.geometry_matches(reference) == [], mask_path
    assert mask.array.dtype == np.uint8 and mask.num_channels == 1
    assert set(np.unique(mask.array)) <= labels
    return mask.array


def test_2d_formats_keep_their_family_size_and_names(planned: dict, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "results", planned["png"])
    scans = tmp_path / "scans"
    scans.mkdir()
    PILImage.fromarray(_image()).save(scans / "scan one (final).v2.png")
    PILImage.fromarray(_image(seed=1)).save(scans / "photo.jpg", quality=95)
    PILImage.fromarray(_image(seed=2)).save(scans / "case_0000.bmp")
    tifffile.imwrite(scans / "micro.tiff", _image(seed=3))
    tifffile.imwrite(scans / "stack.tif", np.stack([_image(seed=s) for s in range(3)]))
    result = predict(scans, tmp_path / "masks", model_dir=folder)
    expected = {"scan one (final).v2.png", "photo.png", "case_0000.png", "micro.tiff", "stack.tif"}
    assert {p.name for p in result.written} == expected
    assert {p.name for p in (tmp_path / "masks").iterdir()} == expected  # nothing else, no temporary files
    pairs = [("scan one (final).v2.png", "scan one (final).v2.png"), ("photo.png", "photo.jpg"),
             ("case_0000.png", "case_0000.bmp"), ("micro.tiff", "micro.tiff"), ("stack.tif", "stack.tif")]
    for mask_name, source_name in pairs:
        _assert_mask_like(tmp_path / "masks" / mask_name, scans / source_name, {0, 1})
    assert result.num_slices == 4 + 3 and result.tta is False and result.device == "cpu"


def test_volumes_keep_spacing_origin_and_direction(planned: dict, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    folder = make_model_folder(tmp_path / "results", planned["nifti"])
    scans = tmp_path / "scans"
    scans.mkdir()
    rotated = (0.0, 0.6, 0.8, 1.0, 0.0, 0.0, 0.0, 0.8, -0.6)
    write_volume(scans / "ct.nii.gz", noisy_volume(1, (5, 44, 38)), spacing=(0.7, 0.95, 3.3),
                 origin=(-12.5, 40.0, 7.25), direction=rotated)
    write_volume(scans / "mr.nrrd", noisy_volume(2, (4, 40, 36)), spacing=(0.8, 0.8, 2.0), origin=(1, 2, 3))
    write_volume(scans / "us.mha", noisy_volume(3, (3, 40, 36)))
    write_dicom_series(scans / "dicom series", noisy_volume(4, (4, 40, 36)))
    result = predict(scans, tmp_path / "masks", model_dir=folder, batch_size=3)
    assert sorted(p.name for p in result.written) == ["ct.nii.gz", "dicom series.nii.gz", "mr.nrrd", "us.mha"]
    for mask_name, source_name in (("ct.nii.gz", "ct.nii.gz"), ("mr.nrrd", "mr.nrrd"), ("us.mha", "us.mha"),
                                   ("dicom series.nii.gz", "dicom series")):
        labels = _assert_mask_like(tmp_path / "masks" / mask_name, scans / source_name, {0, 1, 2})
        assert labels.shape == read_image(scans / source_name).spatial_shape
    mask = sitk.ReadImage(str(tmp_path / "masks" / "ct.nii.gz"))
    np.testing.assert_allclose(mask.GetDirection(), rotated, atol=1e-6)
    np.testing.assert_allclose(mask.GetOrigin(), (-12.5, 40.0, 7.25), atol=1e-5)
    # a volume under a 2D-image model: predicted slice by slice in pixel units, with a warning
    png_model = make_model_folder(tmp_path / "results", planned["png"])
    with caplog.at_level(logging.WARNING):
        predict([scans / "mr.nrrd"], tmp_path / "masks_png_model", model_dir=png_model)
    assert "trained on 2D images" in caplog.text
    _assert_mask_like(tmp_path / "masks_png_model" / "mr.nrrd", scans / "mr.nrrd", {0, 1})


def test_existing_masks_are_skipped_unless_overwrite(planned: dict, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "results", planned["png"])
    scans = tmp_path / "scans"
    scans.mkdir()
    for name in ("a.png", "b.png"):
        PILImage.fromarray(_image()).save(scans / name)
    predict(scans, tmp_path / "masks", model_dir=folder)
    (tmp_path / "masks" / "a.png").write_bytes(b"kept")
    result = predict(scans, tmp_path / "masks", model_dir=folder)
    assert result.written == [] and {p.name for p in result.skipped} == {"a.png", "b.png"}
    assert "skipped 2 existing" in result.summary()
    assert (tmp_path / "masks" / "a.png").read_bytes() == b"kept"
    result = predict([scans / "a.png"], tmp_path / "masks", model_dir=folder, overwrite=True)
    assert [p.name for p in result.written] == ["a.png"]
    assert read_image(tmp_path / "masks" / "a.png").array.shape == (50, 37)


def test_probabilities_are_saved_next_to_the_masks(planned: dict, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "results", planned["nifti"])
    write_volume(tmp_path / "ct.nii.gz", noisy_volume(5, (4, 40, 36)))
    result = predict(tmp_path / "ct.nii.gz", tmp_path / "masks", model_dir=folder, save_probabilities=True)
    assert sorted(p.name for p in result.written) == ["ct.nii.gz", "ct.npz"]
    probabilities = np.load(tmp_path / "masks" / "ct.npz")["probabilities"]
    mask = read_image(tmp_path / "masks" / "ct.nii.gz").array
    assert probabilities.shape == (3, *mask.shape) and probabilities.dtype == np.float16
    np.testing.assert_allclose(probabilities.astype(np.float32).sum(axis=0), 1.0, atol=5e-3)
    top_two = np.sort(probabilities.astype(np.float32), axis=0)[-2:]
    clear = (top_two[1] - top_two[0]) > 0.01
    np.testing.assert_array_equal(probabilities.argmax(axis=0)[clear], mask[clear])
    # probabilities of a.png and a.nii.gz would share a.npz
    PILImage.fromarray(_image()).save(tmp_path / "ct.png")
    with pytest.raises(SvsegError, match="would overwrite"):
        predict([tmp_path / "ct.nii.gz", tmp_path / "ct.png"], tmp_path / "m2", model_dir=folder,
                save_probabilities=True)


def test_fold_ensemble_through_the_api(planned: dict, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "results", planned["nifti"], folds=("0", "1", "2"), seed=11)
    write_volume(tmp_path / "ct.nii.gz", noisy_volume(6, (4, 40, 36)))
    everything = predict(tmp_path / "ct.nii.gz", tmp_path / "all", model_dir=folder, save_probabilities=True)
    assert everything.folds == ["0", "1", "2"]
    two = predict(tmp_path / "ct.nii.gz", tmp_path / "two", model_dir=folder, folds=["0", "2"])
    assert two.folds == ["0", "2"]
    singles = [predict(tmp_path / "ct.nii.gz", tmp_path / f"f{f}", model_dir=folder, folds=[f],
                       save_probabilities=True) for f in ("0", "1", "2")]
    assert all(s.folds == [f] for s, f in zip(singles, ("0", "1", "2"), strict=True))
    per_fold = [read_image(tmp_path / f"f{f}" / "ct.nii.gz").array for f in ("0", "1", "2")]
    assert not all(np.array_equal(per_fold[0], other) for other in per_fold[1:]), "folds should differ"
    assert not np.array_equal(read_image(tmp_path / "all" / "ct.nii.gz").array, per_fold[0])


def test_dataset_name_and_the_only_model_select_the_model(planned: dict, tmp_path: Path) -> None:
    from svseg.paths import results_root

    make_model_folder(results_root(), planned["png"])
    PILImage.fromarray(_image()).save(tmp_path / "x.png")
    assert predict(tmp_path / "x.png", tmp_path / "m1").model_dir.parent.name == "Dataset951_Png"
    assert predict(tmp_path / "x.png", tmp_path / "m2", dataset="Png").written
    assert predict(tmp_path / "x.png", tmp_path / "m3", dataset="951").written
    make_model_folder(results_root(), planned["nifti"])
    with pytest.raises(SvsegError, match="several trained models"):
        predict(tmp_path / "x.png", tmp_path / "m4")
    with pytest.raises(SvsegError, match="unknown dataset"):
        predict(tmp_path / "x.png", tmp_path / "m4", dataset="Nope")
    assert not (tmp_path / "m4").exists()


def test_inputs_are_mapped_to_the_models_channels_or_refused_first(planned: dict, tmp_path: Path) -> None:
    rgb_model = make_model_folder(tmp_path / "results", planned["png"], channel_names={"0": "R", "1": "G", "2": "B"})
    PILImage.fromarray(_image()).save(tmp_path / "grey.png")
    PILImage.fromarray(_image()).convert("RGB").save(tmp_path / "grey_as_rgb.png")  # Pillow's own grey -> RGB
    PILImage.fromarray(_image(channels=3)).save(tmp_path / "rgb.png")
    result = predict([tmp_path / "rgb.png", tmp_path / "grey.png", tmp_path / "grey_as_rgb.png"], tmp_path / "ok",
                     model_dir=rgb_model)
    _assert_mask_like(tmp_path / "ok" / "rgb.png", tmp_path / "rgb.png", {0, 1})
    assert len(result.written) == 3
    # a grey image for an RGB model is fed as three equal channels
    np.testing.assert_array_equal(_assert_mask_like(tmp_path / "ok" / "grey.png", tmp_path / "grey.png", {0, 1}),
                                  read_image(tmp_path / "ok" / "grey_as_rgb.png").array)
    grey_model = make_model_folder(tmp_path / "grey_results", planned["png"])
    with pytest.raises(SvsegError, match=r"rgb\.png: true-colour RGB \(channels differ\), but the model was trained "
                                         r"on grey images"):
        predict([tmp_path / "grey.png", tmp_path / "rgb.png"], tmp_path / "bad", model_dir=grey_model)
    assert not (tmp_path / "bad").exists()  # checked before anything is written


def test_batching_2d_images_through_the_api_gives_the_same_masks(planned: dict, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "results", planned["png"], seed=9)
    scans = tmp_path / "scans"
    scans.mkdir()
    for index, shape in enumerate([(50, 37), (50, 37), (30, 44), (50, 37), (50, 37)]):
        PILImage.fromarray(_image(shape, seed=index)).save(scans / f"img{index}.png")
    tifffile.imwrite(scans / "img2b_stack.tif", np.stack([_image(seed=s) for s in range(2)]))  # a volume in between
    one = predict(scans, tmp_path / "one", model_dir=folder, batch_size=1, save_probabilities=True)
    three = predict(scans, tmp_path / "three", model_dir=folder, batch_size=3)
    assert [p.name for p in three.written] == [p.name for p in one.written if p.suffix != ".npz"]
    for mask in three.written:
        alone = read_image(tmp_path / "one" / mask.name).array
        probabilities = np.load(tmp_path / "one" / (mask.name.split(".")[0] + ".npz"))["probabilities"]
        top_two = np.sort(probabilities.astype(np.float32), axis=0)[-2:]
        clear = (top_two[1] - top_two[0]) > 0.01
        np.testing.assert_array_equal(read_image(mask).array[clear], alone[clear])
