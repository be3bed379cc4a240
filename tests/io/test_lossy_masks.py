"""JPEG masks are read as the 0/255 masks they were drawn as, or refused in one line; lossless masks never are.

The masks are drawn here with NumPy, saved with Pillow at the qualities users meet, and the
expected result is Pillow's own decoding thresholded at 127 by NumPy.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from scipy import ndimage

from svseg.errors import SvsegError
from svseg.io import read_mask
from svseg.io.lossy_masks import RULE, binarise_lossy, is_lossy_mask, lossy_record

SHAPE = (64, 80)


def discs(values: tuple[int, ...] = (255, 255, 255), radius: int = 9) -> np.ndarray:
    """Three discs on 0, the k-th holding values[k]."""
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    mask = np.zeros(SHAPE, np.uint8)
    for value, (cy, cx) in zip(values, ((16, 16), (40, 40), (20, 60)), strict=True):
        mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = value
    return mask


def save(path: Path, array: np.ndarray, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path, **options)
    return path


def decoded(path: Path) -> np.ndarray:
    with PILImage.open(path) as image:
        return np.asarray(image.convert("L"))


@pytest.mark.parametrize("quality", [30, 75, 95])
def test_a_jpeg_mask_is_read_as_value_above_127(tmp_path: Path, quality: int) -> None:
    drawn = discs()
    path = save(tmp_path / "mask.jpg", drawn, quality=quality)
    noisy = decoded(path)
    assert len(np.unique(noisy)) > 2  # the compression noise the rule is for
    mask = read_mask(path).array
    np.testing.assert_array_equal(mask, np.where(noisy > 127, 255, 0))
    assert mask.dtype == np.uint8
    assert np.count_nonzero(mask != drawn) <= 0.01 * drawn.size  # what the user drew, edges aside


def test_rgb_jpeg_and_upper_case_endings_are_lossy(tmp_path: Path) -> None:
    drawn = discs()
    path = save(tmp_path / "MASK.JPEG", np.repeat(drawn[..., None], 3, axis=2), quality=75)
    assert is_lossy_mask(path) and is_lossy_mask("a.jpg") and not is_lossy_mask("a.png")
    np.testing.assert_array_equal(read_mask(path).array, np.where(decoded(path) > 127, 255, 0))


def test_an_empty_jpeg_mask_stays_empty(tmp_path: Path) -> None:
    path = save(tmp_path / "empty.jpg", np.zeros(SHAPE, np.uint8), quality=75)
    mask = read_mask(path).array
    assert mask.shape == SHAPE and not mask.any()


def test_lossless_masks_keep_their_values(tmp_path: Path) -> None:
    """A PNG with grey levels is not binarised (import and evaluate judge its values themselves)."""
    ramp = np.tile(np.arange(80, dtype=np.uint8) * 3, (64, 1))
    np.testing.assert_array_equal(read_mask(save(tmp_path / "ramp.png", ramp)).array, ramp)


@pytest.mark.parametrize(("values", "message"), [
    ((255, 128, 255), r"mask.jpg: \d+ mid-grey pixels \(64-191\) of the JPEG mask lie away from any edge"),
    ((255, 100, 255), r"mid-grey pixels .* as a class coded as a grey level does; .* save the masks as PNG"),
    ((1, 2, 1), r"mask.jpg: JPEG mask holds values up to \d+ but none near 255; .*class numbers \(0, 1, 2 \.\.\.\)"),
])
def test_multi_class_jpeg_masks_are_refused(tmp_path: Path, values: tuple[int, ...], message: str) -> None:
    path = save(tmp_path / "mask.jpg", discs(values), quality=90)
    with pytest.raises(SvsegError, match=message) as caught:
        read_mask(path)
    assert "\n" not in str(caught.value)


def test_a_grey_photo_saved_as_mask_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = save(tmp_path / "noise.jpg", rng.integers(0, 256, SHAPE, dtype=np.uint8), quality=75)
    with pytest.raises(SvsegError, match=r"noise.jpg: \d+% of the JPEG mask's pixels are mid-grey \(64-191\), more "
                                         r"than the 25%"):
        read_mask(noise)
    ramp = np.zeros(SHAPE, np.uint8)  # dark, then 20 columns of shading up to 255, then bright
    ramp[:, 30:50] = np.round(np.arange(20) * 255 / 19).astype(np.uint8)
    ramp[:, 50:] = 255
    with pytest.raises(SvsegError, match="lie away from any edge"):
        read_mask(save(tmp_path / "ramp.jpg", ramp, quality=95))


def test_stray_allowance_counted_by_hand() -> None:
    """Mid-grey pixels with no bright pixel within 3 px: 4 are let through, 5 are not (10 % of few is < 4)."""
    base = np.zeros((40, 40), np.uint8)
    base[:, 30:] = 255  # bright band; columns 27-29 are within 3 px of it
    base[:, 28] = 120  # 40 edge pixels: dark at column 25-27, bright at 30-31
    assert binarise_lossy(base, "x").sum() == 255 * 40 * 10
    strays = base.copy()
    strays[5, 2:10:2] = 150  # 4 mid-grey pixels 18+ px from any bright one
    result = binarise_lossy(strays, "x")
    np.testing.assert_array_equal(result, np.where(strays > 127, 255, 0))
    strays[5, 10] = 150  # 5 strays among 45 mid-grey pixels: 5 > max(4, 4.5)
    with pytest.raises(SvsegError, match=r"x: 5 mid-grey pixels"):
        binarise_lossy(strays, "x")


def test_only_8_bit_grey_images_can_be_lossy_masks() -> None:
    with pytest.raises(SvsegError, match=r"x.jpg: a lossy \(JPEG\) mask must be 8-bit grey, got uint16"):
        binarise_lossy(np.zeros((4, 4), np.uint16), "x.jpg")


def test_record_names_the_rule_and_the_count() -> None:
    assert lossy_record(0) is None
    assert lossy_record(3) == {"files": 3, "rule": RULE}
    assert "value > 127 is foreground (255)" in RULE


def test_the_shipped_nuclei_masks_as_jpeg_are_read_and_recoded_classes_refused(tmp_path: Path) -> None:
    """The figures behind the rule: the nuclei masks at low and high quality pass, 0/128/255 versions do not."""
    folder = Path(str(resources.files("svseg") / "demo_data" / "nuclei" / "labels"))
    for index, png in enumerate(sorted(folder.glob("*.png"))[:6]):
        drawn = np.asarray(PILImage.open(png))
        for quality in (10, 95):
            path = save(tmp_path / f"{index}_{quality}.jpg", drawn, quality=quality)
            np.testing.assert_array_equal(read_mask(path).array, np.where(decoded(path) > 127, 255, 0))
        objects, _ = ndimage.label(drawn > 0)
        recoded = np.where(drawn > 0, np.where(objects % 2 == 0, 255, 128), 0).astype(np.uint8)
        with pytest.raises(SvsegError, match="mid-grey"):
            read_mask(save(tmp_path / f"{index}_classes.jpg", recoded, quality=75))
