"""Fixtures for the evaluation tests (builders live in ``examples.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .examples import example_2, write_pngs


@pytest.fixture
def example_2_folders(tmp_path: Path) -> tuple[Path, Path]:
    """Example 2 as PNG folders: (prediction folder, reference folder)."""
    cases = example_2()
    gt = write_pngs(tmp_path / "gt", {name: ref for name, (ref, _) in cases.items()})
    pred = write_pngs(tmp_path / "pred", {name: pred for name, (_, pred) in cases.items()})
    return pred, gt
