"""Fixtures for network tests: a fixed seed per test, so random weights and draws are reproducible."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def fixed_seed() -> None:
    """Seed torch's global RNG (weights, MCAttn/SvAttn draws, dropout) before every test."""
    torch.manual_seed(0)
