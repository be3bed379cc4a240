"""RoI recalibration (L-SNet paper §2.2, §2.4): an affine map between a located RoI and S-Net's input.

Coordinates: pixel (row i, column j) of an H x W slice has its centre at x = j + 0.5, y = i + 0.5,
so the slice spans [0, W] x [0, H]; this is torch's ``align_corners=False`` convention, where the
normalised coordinate -1 is the left edge of the first pixel and +1 the right edge of the last.

A keypoint (x, y) with edge distances (l, t, r, b) and border margin m locates the RoI
[x - l - m, x + r + m] x [y - t - m, y + b + m]. The paper's transformation (eq. 2, 3) maps a
normalised RoI coordinate u in [-1, 1] to the normalised slice coordinate ``s * u + t`` with

    s_x = (l + r + 2m) / W,   t_x = (2x + r - l) / W - 1     (and the same in y with t, b, H).

The scale and translation are differentiable in (l, t, r, b), so S-Net's loss reaches L-Net's box
head through ``grid_sample`` (bilinear, not a hard crop: no quantisation). The inverse (eq. 4) is
``u = (v - t) / (s + eps)``; :func:`paste_back` uses it to sample S-Net's output back onto the
slice, only inside each RoI's pixel window so that many RoIs on a large slice stay cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

INVERSE_EPS = 1e-6
"""The paper's smoothing term in 1 / (s + eps) (eq. 4): avoids a division by zero for a collapsed box."""


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by a constant."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, tensor: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor  # type: ignore[attr-defined]
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.factor, None  # type: ignore[attr-defined]


def scale_gradient(tensor: torch.Tensor, factor: float) -> torch.Tensor:
    """`tensor` unchanged, with the gradient flowing back through it multiplied by `factor`.

    L-SNet decays the gradient S-Net's loss sends into L-Net (paper §2.5, "decay factor").
    """
    return _ScaleGradient.apply(tensor, float(factor))


@dataclass(frozen=True)
class RoIs:
    """N regions of interest on a batch of slices.

    ``batch_index`` (N,) says which slice each RoI lies on, ``keypoints`` (N, 2) are (x, y) in
    pixels (centre convention above), ``distances`` (N, 4) are (l, t, r, b) in pixels and
    ``classes`` (N,) the foreground class (1-based label) whose keypoint located the RoI.
    """

    batch_index: torch.Tensor
    keypoints: torch.Tensor
    distances: torch.Tensor
    classes: torch.Tensor

    def __len__(self) -> int:
        return int(self.batch_index.shape[0])


def roi_theta(keypoints: torch.Tensor, distances: torch.Tensor, margin: float, height: int, width: int
              ) -> torch.Tensor:
    """(N, 2, 3) affine matrices mapping normalised RoI coordinates to normalised slice coordinates (eq. 3)."""
    x, y = keypoints[:, 0], keypoints[:, 1]
    left, top, right, bottom = distances.unbind(1)
    scale_x = (left + right + 2 * margin) / width
    scale_y = (top + bottom + 2 * margin) / height
    shift_x = (2 * x + right - left) / width - 1
    shift_y = (2 * y + bottom - top) / height - 1
    zero = torch.zeros_like(scale_x)
    return torch.stack(
        [torch.stack([scale_x, zero, shift_x], 1), torch.stack([zero, scale_y, shift_y], 1)], 1
    )


def inverse_theta(theta: torch.Tensor, eps: float = INVERSE_EPS) -> torch.Tensor:
    """(N, 2, 3) inverse of :func:`roi_theta`'s matrices: slice coordinates -> RoI coordinates (eq. 4)."""
    scale = torch.stack([theta[:, 0, 0], theta[:, 1, 1]], 1) + eps
    shift = torch.stack([theta[:, 0, 2], theta[:, 1, 2]], 1)
    zero = torch.zeros_like(scale[:, 0])
    return torch.stack(
        [
            torch.stack([1 / scale[:, 0], zero, -shift[:, 0] / scale[:, 0]], 1),
            torch.stack([zero, 1 / scale[:, 1], -shift[:, 1] / scale[:, 1]], 1),
        ],
        1,
    )


def recalibrate(images: torch.Tensor, batch_index: torch.Tensor, theta: torch.Tensor, size: int,
                mode: str = "bilinear") -> torch.Tensor:
    """Sample N RoIs of `size` x `size` from (B, C, H, W) `images` (zeros outside the slice).

    ``mode="nearest"`` samples label maps (the RoI's segmentation target) without mixing labels.
    """
    source = images[batch_index]
    grid = F.affine_grid(theta.to(source.dtype), [len(batch_index), source.shape[1], size, size],
                         align_corners=False)
    return F.grid_sample(source, grid, mode=mode, padding_mode="zeros", align_corners=False)


@dataclass(frozen=True)
class PastedRoI:
    """One RoI's map sampled back onto its window of the slice: rows/cols [r0, r1) x [c0, c1)."""

    batch: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    values: torch.Tensor  # (C, r1 - r0, c1 - c0)
    covered: torch.Tensor  # (r1 - r0, c1 - c0) bool: pixel centre inside the RoI


def _window(shift: float, scale: float, extent: int) -> tuple[int, int]:
    """[first, last) pixels whose centres lie in the RoI, which spans (shift -/+ scale + 1) * extent / 2."""
    low = (shift - scale + 1) * extent / 2
    high = (shift + scale + 1) * extent / 2
    first = max(0, math.ceil(low - 0.5))
    last = min(extent, math.floor(high - 0.5) + 1)
    return first, last


def paste_back(roi_maps: torch.Tensor, batch_index: torch.Tensor, theta: torch.Tensor, height: int, width: int
               ) -> list[PastedRoI]:
    """Sample each (C, R, R) RoI map back onto its window of the H x W slice with the inverse transform.

    For the window [r0, r1) x [c0, c1), the slice's normalised coordinates are themselves an affine
    function of the window's, so the inverse transform composed with it is one matrix per RoI and
    ``affine_grid`` / ``grid_sample`` do the rest; ``padding_mode="border"`` keeps the half pixel at
    the RoI's edge from fading to zero, and ``covered`` marks the pixels the RoI really contains.
    """
    inverse = inverse_theta(theta.detach().float()).cpu()
    pasted = []
    for n in range(roi_maps.shape[0]):
        scale_x, shift_x = float(theta[n, 0, 0]), float(theta[n, 0, 2])
        scale_y, shift_y = float(theta[n, 1, 1]), float(theta[n, 1, 2])
        c0, c1 = _window(shift_x, scale_x, width)
        r0, r1 = _window(shift_y, scale_y, height)
        if c1 <= c0 or r1 <= r0:
            continue
        # window-normalised w in [-1, 1] -> slice-normalised v = a * w + b, then RoI u = inverse(v)
        a_x, b_x = (c1 - c0) / width, (c0 + c1) / width - 1
        a_y, b_y = (r1 - r0) / height, (r0 + r1) / height - 1
        inv = inverse[n]
        window_theta = torch.tensor(
            [[inv[0, 0] * a_x, 0.0, inv[0, 0] * b_x + inv[0, 2]], [0.0, inv[1, 1] * a_y, inv[1, 1] * b_y + inv[1, 2]]],
            dtype=roi_maps.dtype, device=roi_maps.device,
        )
        grid = F.affine_grid(window_theta[None], [1, roi_maps.shape[1], r1 - r0, c1 - c0], align_corners=False)
        values = F.grid_sample(roi_maps[n : n + 1], grid, mode="bilinear", padding_mode="border",
                               align_corners=False)[0]
        covered = (grid.abs() <= 1).all(-1)[0]
        pasted.append(PastedRoI(int(batch_index[n]), (r0, r1), (c0, c1), values, covered))
    return pasted


def merge_by_max(pasted: list[PastedRoI], batch: int, classes: int, height: int, width: int,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, C, H, W) class probabilities: each pixel takes the covering RoI most sure it is foreground.

    Pixels no RoI covers are background with probability 1. `pasted` holds class probabilities
    (softmax over C, channel 0 = background).
    """
    probabilities = torch.zeros(batch, classes, height, width, device=device)
    probabilities[:, 0] = 1
    best = torch.full((batch, height, width), -1.0, device=device)
    for roi in pasted:
        (r0, r1), (c0, c1) = roi.rows, roi.cols
        values = roi.values.to(device=device, dtype=probabilities.dtype)
        confidence = 1 - values[0]
        window_best = best[roi.batch, r0:r1, c0:c1]
        take = roi.covered.to(device) & (confidence > window_best)
        window_best[take] = confidence[take]
        window = probabilities[roi.batch, :, r0:r1, c0:c1]
        window[:, take] = values[:, take]
    return probabilities
