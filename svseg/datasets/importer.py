"""``svseg import``: turn a folder of images and masks into an nnU-Net raw dataset.

The import runs in three passes so that a bad dataset writes nothing: (1) detect the layout
and pair files by name; (2) read every case, checking sizes, geometry and mask values, and
choose the label mapping, the channel rule (how source files become channels, recorded in
dataset.json for prediction), channel names and output format for the whole dataset; (3) write
all cases into a temporary folder under the raw root, validate it as nnU-Net will see it, and
only then rename it into place. Source files are only ever opened for reading.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from svseg.datasets.convert import write_case
from svseg.datasets.dataset_json import (
    RGB_CHANNEL_MEANING,
    build_dataset_json,
    channel_names_from_user,
    default_channel_names,
    label_names_from_user,
    split_names,
)
from svseg.datasets.dicom import series_modality
from svseg.datasets.labels import LabelPlan, plan_labels
from svseg.datasets.layouts import Layout, LayoutKind, detect_layout
from svseg.datasets.msd import read_decathlon_task
from svseg.datasets.pairing import CaseSource, pair_cases
from svseg.datasets.problems import DatasetProblemsError, Problem, ProblemList
from svseg.datasets.raw_import import import_raw_dataset
from svseg.datasets.scan import ScannedCase, check_consistency, check_rule, dataset_ending, scan_cases
from svseg.datasets.split import assign_test_cases
from svseg.datasets.target import ImportResult, claim_target
from svseg.datasets.validate import validate_folder
from svseg.errors import SvsegError
from svseg.io import check_exists
from svseg.io.channel_rule import RGB_IMAGES, RULE_KEY, ChannelRule, case_channel_count, decide_rule
from svseg.paths import DatasetRef, check_dataset_name
from svseg.utils.fs import atomic_directory, atomic_write_json
from svseg.utils.progress import track

log = logging.getLogger(__name__)


def import_dataset(
    source: Path | str,
    name: str,
    *,
    dataset_id: int | None = None,
    label_names: Sequence[str] | str | None = None,
    channel_names: Sequence[str] | str | None = None,
    test_fraction: float = 0.0,
    test_split: Sequence[str] | str | Path | None = None,
    unlabelled_as_test: bool = False,
) -> ImportResult:
    """Import `source` as dataset `name` under the raw root; raises SvsegError on bad input.

    `label_names` are in label order (``background`` is added first when missing); `channel_names`
    also choose nnU-Net's normalisation (``CT``, ``zscore``, ``rgb_to_0_1`` ...). `test_fraction`
    or `test_split` (case ids, or a file of them) hold labelled cases out in imagesTs/labelsTs;
    `unlabelled_as_test` sends images without a mask to imagesTs instead of failing.
    """
    check_dataset_name(name)
    label_names, channel_names = split_names(label_names), split_names(channel_names)
    check_exists(Path(source).expanduser())  # a missing source, or a symbolic link loop, named as such
    layout = detect_layout(Path(source).expanduser().resolve())
    if layout.kind is LayoutKind.NNUNET_RAW:
        if label_names or channel_names or test_fraction or test_split or unlabelled_as_test:
            raise SvsegError(f"{layout.root}: is already an nnU-Net dataset; label, channel and test options "
                             "do not apply (it is imported as is)")
        return _warn_few_training_cases(import_raw_dataset(layout.root, name, dataset_id))
    target = claim_target(name, dataset_id)
    problems = ProblemList()
    cases, declared_labels, declared_channels = _collect_cases(layout, problems, label_names, unlabelled_as_test)
    cases = assign_test_cases(cases, test_fraction, test_split)
    scanned = scan_cases(cases, problems, len(declared_labels) if declared_labels else None)
    rule = decide_rule([item.sources for item in scanned]) if scanned else None
    if rule is not None:
        check_consistency(scanned, rule, problems)
    plan = _plan_labels(scanned, declared_labels, problems)
    if not problems and sum(not item.case.test for item in scanned) < 2:
        problems.add(layout.images_dir, "needs at least 2 labelled training cases for cross-validation")
    problems.raise_if_any()
    assert plan is not None and rule is not None  # no problems, so planning succeeded and cases exist
    if not plan.is_identity:
        log.info("mask values mapped to consecutive labels: %s", plan.describe_changes())
    channels = _channel_names(layout, scanned, rule, channel_names or declared_channels)
    rule = rule.with_channel_names(channels)
    check_rule(scanned, rule, problems)
    problems.raise_if_any()
    return _warn_few_training_cases(_write_dataset(layout, target, scanned, plan, channels, rule))


def _warn_few_training_cases(result: ImportResult) -> ImportResult:
    """Warn (the import stands) when nnU-Net's 5-fold split cannot be made: only ``-f all`` would train."""
    from svseg.nnunet_touchpoints import NNUNET_FOLDS, SPLITS_FILE

    if result.num_training < NNUNET_FOLDS:
        held_out = f" ({result.num_test} more held out as test cases)" if result.num_test else ""
        log.warning("%s: only %d training case%s%s; nnU-Net's %d-fold cross-validation needs at least %d, so "
                    "train with `svseg train -f all`, add cases, or write your own %s after planning",
                    result.ref.folder_name, result.num_training, "" if result.num_training == 1 else "s", held_out,
                    NNUNET_FOLDS, NNUNET_FOLDS, SPLITS_FILE)
    return result


def _collect_cases(
    layout: Layout, problems: ProblemList, label_names: Sequence[str] | str | None, unlabelled_as_test: bool
) -> tuple[list[CaseSource], list[str] | None, list[str] | None]:
    """The layout's cases, plus label and channel names it declares (MSD) or the user gave."""
    declared = label_names_from_user(label_names)
    if layout.kind is LayoutKind.MSD:
        task = read_decathlon_task(layout.root, problems)
        task_labels = task.label_names
        if task_labels and task_labels[0].lower() != "background":
            log.info("%s: label 0 %r renamed 'background' (nnU-Net needs that name)", layout.root, task_labels[0])
            task_labels = ["background", *task_labels[1:]]
        return task.cases, declared or task_labels, task.channel_names
    assert layout.labels_dir is not None  # detect_layout guarantees it for paired layouts
    cases = pair_cases(layout.images_dir, layout.labels_dir, problems, dicom=layout.kind is LayoutKind.DICOM,
                       unlabelled_as_test=unlabelled_as_test)
    if not cases and not problems:
        raise SvsegError(f"{layout.images_dir}: no cases found")
    return cases, declared, None


def _plan_labels(scanned: list[ScannedCase], declared: list[str] | None, problems: ProblemList) -> LabelPlan | None:
    """The dataset-wide value -> label mapping, from every scanned mask."""
    values = {item.case.label: item.label_values for item in scanned if item.case.label is not None}
    palettes = {item.case.label: item.palette for item in scanned if item.palette is not None}
    plan, label_problems = plan_labels(values, declared, palettes)  # type: ignore[arg-type]
    problems.extend(label_problems)
    return plan


def _channel_names(layout: Layout, scanned: list[ScannedCase], rule: ChannelRule,
                   given: Sequence[str] | str | None) -> list[str]:
    """User or MSD names (checked against the channel count), else names picking a sound normalisation."""
    example = next(item for item in scanned if case_channel_count(rule.colour, item.sources) == rule.num_channels)
    names = channel_names_from_user(given, rule.num_channels, example.case.images[0])
    if names:
        return names
    modality = series_modality(example.case.images[0]) if layout.kind is LayoutKind.DICOM else None
    rgb_8bit = rule.colour == RGB_IMAGES and all(info.dtype == "uint8" for item in scanned for info in item.sources)
    return default_channel_names(rule.num_channels, is_volume=rule.dims == 3, rgb_8bit=rgb_8bit, modality=modality)


def _write_dataset(layout: Layout, target: DatasetRef, scanned: list[ScannedCase], plan: LabelPlan,
                   channels: list[str], rule: ChannelRule) -> ImportResult:
    """Write every case and dataset.json into a temporary folder; validate; move it into place."""
    ending = dataset_ending(scanned, rule)
    training = [item for item in scanned if not item.case.test]
    content = build_dataset_json(
        name=target.name, channel_names=channels, label_names=plan.names, num_training=len(training),
        file_ending=ending, svseg_info=_provenance(layout, scanned, plan, rule),
    )
    with atomic_directory(target.raw_dir) as folder:
        written_from: dict[Path, Path] = {}
        for item in track(scanned, f"writing {target.folder_name}"):
            for path in write_case(folder, item.case, ending, plan, rule):
                is_label = path.parent.name.startswith("labels")
                written_from[path] = item.case.label if is_label and item.case.label else item.case.images[0]
        atomic_write_json(folder / "dataset.json", content)
        report = validate_folder(folder)
        if not report.ok:  # a conversion bug, reported against the source files the user knows
            raise DatasetProblemsError([Problem(written_from.get(Path(p.path), p.path), p.message)
                                        for p in report.problems])
    log.info("imported %d training and %d test cases into %s", len(training), len(scanned) - len(training),
             target.raw_dir)
    return ImportResult(
        ref=target, folder=target.raw_dir, layout=layout.kind.value, num_training=len(training),
        num_test=len(scanned) - len(training), labels=content["labels"], channel_names=content["channel_names"],
        file_ending=ending, label_mapping=content["svseg"]["label_mapping"],
    )


def _provenance(layout: Layout, scanned: list[ScannedCase], plan: LabelPlan, rule: ChannelRule) -> dict[str, Any]:
    """svseg's record of where each case came from, how its labels were mapped and its channel rule."""
    info: dict[str, Any] = {"source": str(layout.root), "layout": layout.kind.value, **plan.provenance(),
                            RULE_KEY: rule.to_json()}
    if rule.colour == RGB_IMAGES and rule.num_channels == 3:
        info["channel_meaning"] = {str(index): colour for index, colour in enumerate(RGB_CHANNEL_MEANING)}
    info["cases"] = {item.case.case_id: _relative(item.case.images[0], layout.root) for item in scanned}
    info["test_cases"] = sorted(item.case.case_id for item in scanned if item.case.test)
    return info


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
