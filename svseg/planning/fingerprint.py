"""nnU-Net's dataset fingerprint, extended with per-class object statistics on 2D slices.

:class:`AreaRatioFingerprintExtractor` subclasses nnU-Net's ``DatasetFingerprintExtractor`` and
overrides ``run`` only: nnU-Net's ``run`` calls ``DatasetFingerprintExtractor.analyze_case`` by
explicit class name, so an ``analyze_case`` override would be ignored (nnunet-integration.md §3).
It is driven through nnU-Net's ``extract_fingerprint_dataset(dataset_id,
fingerprint_extractor_class=...)``, the only way an extractor outside nnunetv2 is used.

The result is nnU-Net's ``dataset_fingerprint.json`` with one extra top-level key, ``svseg``,
that nnU-Net's planners ignore: per case and for the dataset, per class and for all classes,
the number of objects and of slices holding one in each stratum, object-area percentiles in
pixels, mm² and area ratio, and the slices without foreground (see object_stats.py).

Re-running is cheap and safe: a fingerprint whose ``svseg`` section matches the current case
list and thresholds is returned as is; one written by nnU-Net alone only gets the svseg part
added. The final file is written atomically, so a killed run leaves either the previous file or
nnU-Net's part without ``svseg`` (which the next run completes).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor
from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_dataset_json

from svseg.errors import SvsegError
from svseg.paths import preprocessed_root
from svseg.planning.area_ratio import CaseObjects, measure_case, measure_case_star
from svseg.planning.object_stats import DEFAULT_STRATA, check_strata, summarise_case, summarise_dataset
from svseg.utils.fs import atomic_write_json
from svseg.utils.progress import make_progress

log = logging.getLogger(__name__)

FINGERPRINT_FILE = "dataset_fingerprint.json"
SECTION = "svseg"
SECTION_VERSION = 1
_NNUNET_KEYS = ("spacings", "shapes_after_crop", "foreground_intensity_properties_per_channel",
                "median_relative_size_after_cropping")


def classes_from_labels(labels: Mapping[str, Any]) -> tuple[dict[str, list[int]], list[int]]:
    """Foreground classes (name -> label values) and every value a mask may hold.

    Background and the ignore label are never classes (evaluation.md B1); an nnU-Net region
    (a list of values) is one class made of all its values.
    """
    classes: dict[str, list[int]] = {}
    allowed: set[int] = set()
    for name, value in labels.items():
        values = [int(v) for v in value] if isinstance(value, list | tuple) else [int(value)]
        allowed.update(values)
        if name not in ("background", "ignore") and values != [0]:
            classes[name] = values
    return classes, sorted(allowed)


def read_fingerprint(path: Path) -> dict[str, Any] | None:
    """The fingerprint at `path`, None when absent; a corrupt file is a user error naming it."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SvsegError(f"{path}: fingerprint is not valid JSON ({exc}); delete it or re-run with --clean") from None
    if not isinstance(data, dict):
        raise SvsegError(f"{path}: fingerprint is not a JSON object; delete it or re-run with --clean")
    return data


class AreaRatioFingerprintExtractor(DatasetFingerprintExtractor):
    """nnU-Net's fingerprint plus object counts and areas per stratum (key ``svseg``).

    Thresholds are a class attribute because nnU-Net instantiates the class itself; use
    :meth:`configured` for other thresholds.
    """

    strata: dict[str, float] = DEFAULT_STRATA

    @classmethod
    def configured(cls, strata: Mapping[str, float]) -> type[AreaRatioFingerprintExtractor]:
        """A subclass with other stratum thresholds (fractions of the slice)."""
        return type(cls.__name__, (cls,), {"strata": check_strata(strata)})

    def run(self, overwrite_existing: bool = False) -> dict:
        """Return the extended fingerprint, computing only what is missing or stale."""
        path = preprocessed_root() / self.dataset_name / FINGERPRINT_FILE
        case_ids = sorted(self.dataset)
        existing = None if overwrite_existing else read_fingerprint(path)
        if existing is not None and self._section_is_current(existing, case_ids):
            log.info("fingerprint of %s is up to date", self.dataset_name)
            return existing
        if existing is not None and self._nnunet_part_is_usable(existing, case_ids):
            fingerprint = existing
        else:
            fingerprint = super().run(overwrite_existing=True)
        transpose_forward = self._transpose_forward()
        measured = self._measure_cases(case_ids, transpose_forward)
        fingerprint = dict(fingerprint)
        fingerprint[SECTION] = self._section(measured, transpose_forward)
        atomic_write_json(path, fingerprint)
        # Round-trip so callers see exactly what the file holds (JSON keys are strings).
        return json.loads(path.read_text())

    def _section_is_current(self, fingerprint: dict[str, Any], case_ids: list[str]) -> bool:
        section = fingerprint.get(SECTION)
        return (isinstance(section, dict) and section.get("format_version") == SECTION_VERSION
                and section.get("strata") == dict(self.strata)
                and sorted(section.get("cases", {})) == case_ids
                and self._nnunet_part_is_usable(fingerprint, case_ids))

    @staticmethod
    def _nnunet_part_is_usable(fingerprint: dict[str, Any], case_ids: list[str]) -> bool:
        return all(key in fingerprint for key in _NNUNET_KEYS) and len(fingerprint["spacings"]) == len(case_ids)

    def _transpose_forward(self) -> list[int]:
        """nnU-Net's own choice of slicing axis (first entry), read from the fingerprint on disk."""
        transpose_forward, _ = ExperimentPlanner(self.dataset_name).determine_transpose()
        return [int(axis) for axis in transpose_forward]

    def _measure_cases(self, case_ids: list[str], transpose_forward: list[int]) -> list[CaseObjects]:
        """Measure every case's objects, in a spawn pool when more than one process is allowed."""
        first_image = self.dataset[case_ids[0]]["images"][0]
        reader_writer = determine_reader_writer_from_dataset_json(self.dataset_json, first_image)
        classes, allowed = classes_from_labels(self.dataset_json["labels"])
        jobs = [(case_id, self.dataset[case_id]["label"], reader_writer, transpose_forward, classes, allowed)
                for case_id in case_ids]
        workers = max(1, min(int(self.num_processes), len(jobs)))
        results: dict[str, CaseObjects] = {}
        with make_progress() as progress:
            task = progress.add_task("Measuring objects per slice", total=len(jobs))
            if workers == 1:
                for job in jobs:
                    results[job[0]] = measure_case(*job)
                    progress.advance(task)
            else:
                # A pool executor, unlike Pool.imap, raises BrokenProcessPool when a worker is
                # killed (out of memory) instead of waiting forever.
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                    futures = [pool.submit(measure_case_star, job) for job in jobs]
                    for future in as_completed(futures):
                        result = future.result()
                        results[result.case_id] = result
                        progress.advance(task)
        return [results[case_id] for case_id in case_ids]

    def _section(self, measured: list[CaseObjects], transpose_forward: list[int]) -> dict[str, Any]:
        classes, _ = classes_from_labels(self.dataset_json["labels"])
        return {
            "format_version": SECTION_VERSION,
            "definition": "object = 8-connected component of one class in one 2D slice; "
                          "area ratio = object pixels / slice pixels (evaluation.md B3)",
            "slice_axis": transpose_forward[0],
            "transpose_forward": transpose_forward,
            "strata": dict(self.strata),
            "classes": classes,
            "summary": summarise_dataset(measured, self.strata),
            "cases": {case.case_id: summarise_case(case, self.strata) for case in measured},
        }
