"""RoI recalibration: the affine map, its inverse, sampling, pasting back and merging, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svseg.networks.lsnet.recalibration import (
    PastedRoI,
    inverse_theta,
    merge_by_max,
    paste_back,
    recalibrate,
    roi_theta,
    scale_gradient,
)


def test_theta_matches_the_paper_formula_by_hand() -> None:
    # keypoint (20.5, 30.5), l=2, t=4, r=6, b=8, margin 15 on a 64 (H) x 128 (W) slice
    theta = roi_theta(torch.tensor([[20.5, 30.5]]), torch.tensor([[2.0, 4.0, 6.0, 8.0]]), 15, 64, 128)
    expected = [[(2 + 6 + 30) / 128, 0, (41 + 6 - 2) / 128 - 1], [0, (4 + 8 + 30) / 64, (61 + 8 - 4) / 64 - 1]]
    assert torch.allclose(theta[0], torch.tensor(expected))


def test_inverse_theta_undoes_theta() -> None:
    generator = torch.Generator().manual_seed(1)
    keypoints = torch.rand(5, 2, generator=generator) * 64
    distances = torch.rand(5, 4, generator=generator) * 10
    theta = roi_theta(keypoints, distances, 15, 64, 64)
    inverse = inverse_theta(theta)
    points = torch.rand(5, 2, generator=generator) * 2 - 1
    forward = torch.einsum("nij,nj->ni", theta, torch.cat([points, torch.ones(5, 1)], 1))
    back = torch.einsum("nij,nj->ni", inverse, torch.cat([forward, torch.ones(5, 1)], 1))
    assert torch.allclose(back, points, atol=1e-5)


def test_recalibrate_samples_the_roi_where_the_formula_says() -> None:
    # an image whose value is the x coordinate of each pixel centre: bilinear sampling is exact on it
    height, width, size = 48, 64, 16
    ramp = (torch.arange(width, dtype=torch.float32) + 0.5).expand(height, width)[None, None]
    keypoint, distances, margin = (30.5, 20.5), (3.0, 2.0, 5.0, 4.0), 6.0
    theta = roi_theta(torch.tensor([keypoint]), torch.tensor([distances]), margin, height, width)
    roi = recalibrate(ramp, torch.tensor([0]), theta, size)[0, 0]
    left, right = keypoint[0] - distances[0] - margin, keypoint[0] + distances[2] + margin  # 21.5 .. 41.5
    expected = [left + (k + 0.5) * (right - left) / size for k in range(size)]
    assert roi[5].tolist() == pytest.approx(expected, abs=1e-4)


def _disk(side: int, centre: tuple[float, float], radius: float) -> torch.Tensor:
    yy, xx = np.mgrid[:side, :side]
    return torch.from_numpy(((yy - centre[1]) ** 2 + (xx - centre[0]) ** 2 <= radius**2).astype(np.float32))


def test_forward_then_inverse_recovers_a_small_object() -> None:
    mask = _disk(64, (20, 30), 4)  # 49 pixels
    keypoint, distances = torch.tensor([[20.5, 30.5]]), torch.tensor([[4.5, 4.5, 4.5, 4.5]])
    theta = roi_theta(keypoint, distances, 15, 64, 64)
    roi = recalibrate(mask[None, None], torch.tensor([0]), theta, 64)  # 39 px -> 64 px: upsampled
    assert roi.sum() / mask.sum() == pytest.approx((64 / 39) ** 2, rel=0.1)
    (pasted,) = paste_back(roi, torch.tensor([0]), theta, 64, 64)
    (r0, r1), (c0, c1) = pasted.rows, pasted.cols
    assert (r0, r1, c0, c1) == (11, 50, 1, 40)  # pixel centres inside [1, 40] x [11, 50]
    assert bool(pasted.covered.all())
    window = mask[r0:r1, c0:c1]
    error = (pasted.values[0] - window).abs()
    assert error.max() < 0.6 and error.mean() < 0.02  # interpolation error at the disk's edge only
    assert torch.equal(pasted.values[0] > 0.5, window > 0.5)


def test_paste_back_clips_the_window_at_the_slice_border() -> None:
    theta = roi_theta(torch.tensor([[2.5, 2.5]]), torch.tensor([[2.0, 2.0, 2.0, 2.0]]), 15, 32, 32)
    (pasted,) = paste_back(torch.ones(1, 2, 8, 8), torch.tensor([0]), theta, 32, 32)
    assert pasted.rows == (0, 20) and pasted.cols == (0, 20)  # RoI spans [-14.5, 19.5]


def test_merge_takes_the_most_confident_roi_and_background_elsewhere() -> None:
    a = PastedRoI(0, (0, 2), (0, 2), torch.tensor([[[0.9, 0.9], [0.9, 0.9]], [[0.1, 0.1], [0.1, 0.1]]]),
                  torch.ones(2, 2, dtype=torch.bool))
    b = PastedRoI(0, (1, 3), (1, 3), torch.tensor([[[0.2, 0.2], [0.2, 0.2]], [[0.8, 0.8], [0.8, 0.8]]]),
                  torch.tensor([[True, True], [True, False]]))
    merged = merge_by_max([a, b], 1, 2, 4, 4)
    expected = torch.tensor([[0.1, 0.1, 0, 0], [0.1, 0.8, 0.8, 0], [0, 0.8, 0, 0], [0, 0, 0, 0]])
    assert torch.allclose(merged[0, 1], expected)
    assert torch.allclose(merged.sum(1), torch.ones(1, 4, 4))


def test_scale_gradient_is_identity_forward_and_scales_backward() -> None:
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = scale_gradient(x, 0.25)
    assert torch.equal(y, x.detach())
    (y * torch.tensor([4.0, 8.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0]
