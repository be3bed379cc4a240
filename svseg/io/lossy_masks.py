"""Reading masks stored in a lossy format (JPEG) as the binary masks their users drew.

Public datasets such as Kvasir-SEG ship their masks as JPEG: drawn as 0/255, they come back with
compression noise around 0 and 255 (dozens of grey levels) and soft edges. Their users read them
as ``mask > 127``. svseg does the same, in one place, so that ``svseg import`` (training masks)
and ``svseg evaluate`` (references and predictions) read the same file alike: every mask read
through :func:`svseg.io.read_mask` from a lossy ending goes through :func:`binarise_lossy`, and
both commands record the rule (:func:`lossy_record`) in what they write (dataset.json's ``svseg``
section, metrics.json's ``settings.values``).

The rule, on 8-bit values: a pixel is *dark* at most 63, *bright* at least 192, *mid-grey* in
between. Compression and resizing put mid-grey pixels on the edges between dark and bright ones,
so a mid-grey pixel with a dark and a bright pixel within 3 pixels (its 7 x 7 window) is an
*edge* pixel. The mask is binarised (above 127: 255, the rest 0) when

* at most 25 % of its pixels are mid-grey (a heavily downscaled mask of small objects is mostly
  edge; a photo or a noise image is not), and
* at most 4 of its mid-grey pixels, or 10 % of them, are not edge pixels (a tiny object blurred
  below 192 has no bright core; a class coded as 128 is mid-grey inside).

Otherwise, and when the mask holds values above 0 but nothing bright (class numbers 0, 1, 2 ...
are dark), it is refused in one line: several classes or a grey image cannot be recovered from
JPEG, only a lossless format keeps them. The figures come from the 60 nuclei masks shipped with
svseg (256 x 256, 0/255): saved as JPEG at quality 10-95, none is refused, nor any resized by 0.3-4x
and saved at quality 50-95 (one resized by 0.3 and saved at quality 10 is); with half their
objects recoded as 128, 100 or (with the rest 1) as 2, every one saved at quality 30-95 is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from svseg.errors import SvsegError
from svseg.io.formats import file_ending

LOSSY_MASK_ENDINGS = (".jpg", ".jpeg")
DARK_MAX, BRIGHT_MIN, MIDPOINT = 63, 192, 127
EDGE_RADIUS = 3
"""Pixels: how far from a mid-grey pixel its dark and bright neighbours may lie (JPEG ringing, resampling)."""
MAX_MID_SHARE = 0.25
"""Largest share of mid-grey pixels in a mask read as binary."""
STRAY_ALLOWANCE, MAX_STRAY_SHARE = 4, 0.10
"""Mid-grey pixels away from any edge: at most this many, or this share of the mid-grey pixels."""
RULE = (f"lossy (JPEG) masks: value > {MIDPOINT} is foreground (255), the rest background (0); refused when more "
        f"than {MAX_MID_SHARE:.0%} of the pixels are mid-grey ({DARK_MAX + 1}-{BRIGHT_MIN - 1}), when more than "
        f"{STRAY_ALLOWANCE} (or {MAX_STRAY_SHARE:.0%}) of those lie away from an edge between dark and bright "
        f"pixels, or when nothing is bright")
_ADVICE = "several classes or a grey image cannot be recovered from JPEG; save the masks as PNG"


def is_lossy_mask(path: Path | str) -> bool:
    """True for a mask file in a lossy format, which :func:`binarise_lossy` reads."""
    return file_ending(path) in LOSSY_MASK_ENDINGS


def binarise_lossy(array: np.ndarray, path: Path | str) -> np.ndarray:
    """The 0/255 uint8 mask a lossy 2D mask `array` stands for; SvsegError naming `path` when it stands for none.

    `array` is the decoded single-channel (H, W) mask; see the module docstring for the rule.
    """
    if array.dtype != np.uint8 or array.ndim != 2:
        raise SvsegError(f"{path}: a lossy (JPEG) mask must be 8-bit grey, got {array.dtype} of shape {array.shape}")
    dark, bright = array <= DARK_MAX, array >= BRIGHT_MIN
    if not bright.any():
        if array.any():
            raise SvsegError(f"{path}: JPEG mask holds values up to {int(array.max())} but none near 255; a JPEG mask "
                             f"is read as binary (bright objects, value > {MIDPOINT}), and class numbers (0, 1, 2 ...) "
                             f"or {_ADVICE}")
        return np.zeros_like(array)
    mid = ~(dark | bright)
    mid_count = int(np.count_nonzero(mid))
    if mid_count > MAX_MID_SHARE * array.size:
        raise SvsegError(f"{path}: {mid_count / array.size:.0%} of the JPEG mask's pixels are mid-grey "
                         f"({DARK_MAX + 1}-{BRIGHT_MIN - 1}), more than the {MAX_MID_SHARE:.0%} a binary mask's edges "
                         f"give; {_ADVICE}")
    if mid_count:
        stray = int(np.count_nonzero(mid & ~(_near(dark) & _near(bright))))
        if stray > max(STRAY_ALLOWANCE, MAX_STRAY_SHARE * mid_count):
            raise SvsegError(f"{path}: {stray} mid-grey pixels ({DARK_MAX + 1}-{BRIGHT_MIN - 1}) of the JPEG mask lie "
                             f"away from any edge between dark and bright, as a class coded as a grey level does; "
                             f"{_ADVICE}")
    return np.where(array > MIDPOINT, np.uint8(255), np.uint8(0))


def _near(pixels: np.ndarray) -> np.ndarray:
    """Pixels with one of `pixels` within EDGE_RADIUS (a square window), in two 1D passes."""
    from scipy.ndimage import maximum_filter1d

    size = 2 * EDGE_RADIUS + 1
    near = maximum_filter1d(pixels.view(np.uint8), size, axis=0, mode="constant")
    return maximum_filter1d(near, size, axis=1, mode="constant").astype(bool)


def lossy_record(files: int) -> dict[str, object] | None:
    """How `files` lossy masks were read, for dataset.json and metrics.json (None when there were none)."""
    return {"files": files, "rule": RULE} if files else None
