"""report.html: self-contained, and checked in a real headless Chromium (loads cleanly, images decode, sorts)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from svseg.evaluation import evaluate_folders

from .chromium import MISSING, Chromium, chromium_binary, click_header, column_values, open_page, page_problems
from .examples import blank, box, write_pngs


def _evaluation(tmp_path: Path) -> Path:
    """Five cases with different object counts and qualities, images included; returns report.html."""
    rng = np.random.default_rng(2)
    cases = {}
    for k in range(5):
        ref, pred = blank(), blank()
        for j in range(k + 1):
            top, left = 5 + 18 * j, 10 + 15 * k
            ref[box(top, top + 3 + j, left, left + 4)] = 1
            if j % 2 == 0 or k == 4:
                pred[box(top + k % 2, top + 3 + j, left, left + 4)] = 1
        cases[f"case_{k}_{'x' * 30 * (k == 3)}"] = (ref, pred)
    gt = write_pngs(tmp_path / "gt", {name: ref for name, (ref, _) in cases.items()})
    pred = write_pngs(tmp_path / "pred", {name: p for name, (_, p) in cases.items()})
    images = write_pngs(tmp_path / "images", {f"{name}_0000": rng.integers(0, 255, (100, 100)) for name in cases})
    return evaluate_folders(pred, gt, tmp_path / "out", num_workers=1, images_dir=images).html_path


def test_the_page_is_one_self_contained_file(tmp_path: Path) -> None:
    page = _evaluation(tmp_path).read_text(encoding="utf-8")
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(source.startswith("data:image/png;base64,") for source in sources)
    assert "<script src" not in page and "@import" not in page and "url(" not in page
    assert "[95 % CI]" in page and re.search(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", page)
    assert "case_3_" + "x" * 30 in page  # full ids in the page, short ones in the pictures


@pytest.mark.skipif(chromium_binary() is None, reason=MISSING)
def test_chromium_loads_the_page_decodes_every_image_and_sorts(tmp_path: Path) -> None:
    report = _evaluation(tmp_path)
    started = time.monotonic()
    browser = Chromium(tmp_path / "profile")
    try:
        open_page(browser, report)
        images = browser.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert len(images) >= 8 and all(done and width > 0 for done, width in images)
        cases = column_values(browser, "cases", 0)
        assert cases == sorted(cases)  # written in case order
        click_header(browser, "cases", 2)  # "objects": 1, 2, 3, 4, 5 by case
        ascending = [int(v) for v in column_values(browser, "cases", 2)]
        click_header(browser, "cases", 2)
        descending = [int(v) for v in column_values(browser, "cases", 2)]
        assert ascending == [1, 2, 3, 4, 5] and descending == [5, 4, 3, 2, 1]
        click_header(browser, "cases", 5)  # object Dice: numbers, not text, decide the order
        dice = [float(v) for v in column_values(browser, "cases", 5)]
        assert dice == sorted(dice) and len(set(dice)) > 1
        assert browser.evaluate("document.querySelector('#cases th[aria-sort]').textContent") == "object Dice"
        shot = browser.screenshot(tmp_path / "report.png")
        assert page_problems(browser) == []
    finally:
        browser.close()
    with PILImage.open(shot) as picture:
        assert picture.size[0] >= 1000 and picture.size[1] > 1600  # the whole page, not just the window
    assert time.monotonic() - started < 20
