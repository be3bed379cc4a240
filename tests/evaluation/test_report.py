"""report.md: every block gets its tables, undefined values print as –, worst cases are listed."""

from __future__ import annotations

from svseg.evaluation.report import render_report

from .examples import evaluate_arrays, example_2, example_3


def test_report_has_every_section_and_the_worst_object_first() -> None:
    metrics = evaluate_arrays({**example_2(), "ex3": example_3()})
    report = render_report(metrics, ["dice_by_stratum.png"])
    for heading in ("## Object level (headline)", "## Lesion-wise detection", "## Image level (nnU-Net comparable)",
                    "## Comparison with the SvANet paper", "## Worst cases", "## Plots"):
        assert heading in report
    assert "## Volume level" not in report
    worst_table = report.split("Objects with the lowest Dice:")[1]
    first_row = worst_table.strip().splitlines()[2]
    assert first_row.startswith("| ex3 | 0 | 1 | 20 |")  # the missed 20-px object
    assert "background included" in report.lower()
    assert "| 0.364 |" in report  # image all Dice of Example 2 + 3 slices is listed with 3 decimals


def test_undefined_values_print_as_a_dash() -> None:
    report = render_report(evaluate_arrays({"ex3": example_3()}), [])
    ultra_image_row = next(line for line in report.splitlines() if line.startswith("| **ultra_small** | mean | 0 |"))
    assert "–" in ultra_image_row


def test_the_headline_gives_intervals_and_says_when_there_are_few_cases() -> None:
    report = render_report(evaluate_arrays({**example_2(), "ex3": example_3()}), [])
    headline = report.split("## Headline")[1].split("##")[0]
    assert "| **all** | 3 |" in headline and "[95 % CI]" in headline
    assert "bootstrap over cases (2000 resamples of the 4 cases, seed" in headline
    assert "With only 4 cases it is a rough guide" in headline
    single = render_report(evaluate_arrays({"ex3": example_3()}), [])
    assert "one case gives no case-to-case variation" in single
