"""svanet_tiny can learn: it overfits one synthetic image with an ultra-small object (< 1 % of the area)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from svseg.networks import create_network


def synthetic_case(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy grey image with one brighter 6 x 6 square (0.9 % of a 64 x 64 image) and its mask."""
    generator = torch.Generator().manual_seed(3)
    image = 0.3 * torch.randn(1, 1, size, size, generator=generator)
    mask = torch.zeros(1, size, size, dtype=torch.long)
    mask[0, 20:26, 37:43] = 1
    image[0, 0][mask[0] == 1] += 1.0
    return image, mask


def dice(prediction: torch.Tensor, target: torch.Tensor) -> float:
    intersection = ((prediction == 1) & (target == 1)).sum().item()
    return 2 * intersection / max((prediction == 1).sum().item() + (target == 1).sum().item(), 1)


def test_svanet_tiny_overfits_a_small_object() -> None:
    image, mask = synthetic_case()
    model = create_network("svanet_tiny", 1, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    batch, target = image.repeat(2, 1, 1, 1), mask.repeat(2, 1, 1)  # batch 2: ASPP's pooled BatchNorm needs it
    foreground = (target == 1).float()
    best = 0.0
    for step in range(1, 301):
        model.train()
        logits = model(batch)
        probability = logits.softmax(1)[:, 1]
        soft_dice = (2 * (probability * foreground).sum() + 1) / (probability.sum() + foreground.sum() + 1)
        loss = F.cross_entropy(logits, target) + 1 - soft_dice
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            model.eval()
            with torch.no_grad():
                best = max(best, dice(model(image).argmax(1), mask))
            if best > 0.9:
                break
    assert best > 0.9, f"Dice {best:.3f} after {step} steps"
