"""nnU-Net's dataset fingerprint, extended with per-class object statistics on 2D slices.

:class:`AreaRatioFingerprintExtractor` subclasses nnU-Net's ``DatasetFingerprintExtractor`` and
overrides ``run`` only: nnU-Net's ``run`` calls ``DatasetFingerprintExtractor.analyze_case`` by
explicit class name, so an ``analyze_case`` override would be ignored (docs/design/nnunet-integration.md,
'Fingerprint').
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

import hashlib
import json
import logging
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor
from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_dataset_json

from svseg.errors import SvsegError
from svseg.io.dataset_json_safety import check_dataset_json_is_data
from svseg.nnunet_touchpoints import check_overrides
from svseg.paths import preprocessed_root
from svseg.planning.area_ratio import CaseObjects, measure_case, measure_case_star
from svseg.planning.object_stats import DEFAULT_STRATA, check_strata, summarise_case, summarise_dataset
from svseg.utils.fs import atomic_write_bytes, atomic_write_json
from svseg.utils.progress import make_progress, track

log = logging.getLogger(__name__)

FINGERPRINT_FILE = "dataset_fingerprint.json"
SECTION = "svseg"
RAW_STAMP = "raw_files_sha256"
SECTION_VERSION = 2  # 2: per-slice foreground pixels per case (amplification.py)
_PROGRESS = "Measuring objects per slice"
_NNUNET_KEYS = ("spacings", "shapes_after_crop", "foreground_intensity_properties_per_channel",
                "median_relative_size_after_cropping")


def classes_from_labels(labels: Mapping[str, Any]) -> tuple[dict[str, list[int]], list[int]]:
    """Foreground classes (name -> label values) and every value a mask may hold.

    Background and the ignore label are never classes (evaluation-protocol.md B1); an nnU-Net region
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


def transpose_for(spacing: list[float]) -> list[int]:
    """nnU-Net's transpose rule (``ExperimentPlanner.determine_transpose``) for one spacing.

    The coarsest axis goes first (ties to the lowest index), the others keep their order.
    """
    first = int(np.argmax(spacing))
    return [first, *(axis for axis in range(len(spacing)) if axis != first)]


def dataset_transpose(spacings: list[list[float]]) -> list[int]:
    """nnU-Net's transpose for a dataset: :func:`transpose_for` its median spacing (z, y, x).

    nnU-Net's target spacing is the median except on a very anisotropic axis, which it moves
    to its 10th percentile but never below the other axes, so the coarsest axis, the only
    thing the transpose depends on, is the median's. Computing it here avoids building an
    ExperimentPlanner, whose file listing forks a pool of 12 processes. The planner checks the
    result against nnU-Net's own transpose.
    """
    return transpose_for(np.median(np.asarray(spacings, dtype=np.float64), axis=0).tolist())


def foreground_px(case: CaseObjects, classes: Mapping[str, list[int]]) -> dict[str, list[int]]:
    """Foreground pixels (union of classes) of each slice that has any: ``{"slices": [...], "px": [...]}``.

    Ordinary labels are disjoint, so the union is the sum of the classes' object areas. nnU-Net
    regions nest (each holds the next), so there the union is the largest region's area.
    """
    per_class = [np.bincount(found.slice_index, weights=found.area_px, minlength=case.n_slices)
                 for found in case.objects.values()]
    if not per_class:
        return {"slices": [], "px": []}
    nested = any(len(values) > 1 for values in classes.values())
    union = np.max(per_class, axis=0) if nested else np.sum(per_class, axis=0)
    slices = np.flatnonzero(union)
    return {"slices": [int(s) for s in slices], "px": [int(union[s]) for s in slices]}


@contextmanager
def _spawn_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A spawn process pool that drops queued work when the caller fails.

    A pool executor, unlike ``Pool.imap``, raises BrokenProcessPool when a worker is killed
    (out of memory) instead of waiting forever.
    """
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def raw_files_stamp(files: Iterable[Path | str], root: Path | str) -> str:
    """SHA-256 over each file's name (relative to `root`), size and modification time: a fingerprint or
    preprocessing made from raw files that were since edited, replaced or touched is recomputed, not
    reused; a data root moved or copied whole (times kept) keeps its stamp."""
    digest = hashlib.sha256()
    for name in sorted(os.path.relpath(f, root) for f in files):
        info = os.stat(os.path.join(root, name))
        digest.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@contextmanager
def _kept_unless_done(path: Path) -> Iterator[None]:
    """On any failure in the block, put `path` back as it was (content and modification time, or absent).

    nnU-Net's extractor saves its fingerprint (in place) before svseg measures the objects, and the
    measuring refuses label values dataset.json does not declare; a refused run leaves the file as
    it found it.
    """
    before = path.stat() if path.is_file() else None
    content = path.read_bytes() if before is not None else None
    try:
        yield
    except BaseException:
        if content is None:
            path.unlink(missing_ok=True)
        elif not path.is_file() or path.read_bytes() != content or path.stat().st_mtime_ns != before.st_mtime_ns:
            atomic_write_bytes(path, content)
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        raise


def read_fingerprint(path: Path) -> dict[str, Any] | None:
    """The fingerprint at `path`, None when absent; a corrupt file is a user error naming it."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SvsegError(f"{path}: fingerprint is not valid JSON ({exc}); delete it or re-run with --clean") from None
    if not isinstance(data, dict):
        raise SvsegError(f"{path}: fingerprint is not a JSON object; delete it or re-run with --clean")
    return data


@check_overrides
class AreaRatioFingerprintExtractor(DatasetFingerprintExtractor):
    """nnU-Net's fingerprint plus object counts and areas per stratum (key ``svseg``).

    Thresholds are a class attribute because nnU-Net instantiates the class itself; use
    :meth:`configured` for other thresholds.
    """

    strata: dict[str, float] = DEFAULT_STRATA
    raw_stamp: str | None = None  # raw_files_stamp of the raw files now; None: not checked

    @classmethod
    def configured(cls, strata: Mapping[str, float], raw_stamp: str | None = None
                   ) -> type[AreaRatioFingerprintExtractor]:
        """A subclass with other stratum thresholds (fractions of the slice), reusing only a fingerprint of
        raw files with stamp `raw_stamp` (:func:`raw_files_stamp`)."""
        return type(cls.__name__, (cls,), {"strata": check_strata(strata), "raw_stamp": raw_stamp})

    def run(self, overwrite_existing: bool = False) -> dict:
        """Return the extended fingerprint, computing only what is missing or stale."""
        check_dataset_json_is_data(self.dataset_json, Path(self.input_folder) / "dataset.json")
        path = preprocessed_root() / self.dataset_name / FINGERPRINT_FILE
        case_ids = sorted(self.dataset)
        existing = None if overwrite_existing else read_fingerprint(path)
        if existing is not None and not self._same_raw_files(existing):
            log.info("raw files of %s changed since the fingerprint; computing it again", self.dataset_name)
            existing = None
        if existing is not None and self._section_is_current(existing, case_ids):
            log.info("fingerprint of %s is up to date", self.dataset_name)
            return existing
        reusable = existing if existing is not None and self._nnunet_part_is_usable(existing, case_ids) else None
        jobs = self._jobs(case_ids)
        with _kept_unless_done(path):  # nnU-Net writes its part before svseg's measuring can refuse a label
            if reusable is not None or min(int(self.num_processes), len(jobs)) == 1:
                fingerprint = reusable or super().run(overwrite_existing=True)
                transpose_forward = dataset_transpose(fingerprint["spacings"])
                measured = self._measure(jobs, transpose_forward, int(self.num_processes))
            else:
                fingerprint, transpose_forward, measured = self._measure_alongside_nnunet(jobs)
        fingerprint = dict(fingerprint)
        fingerprint[SECTION] = self._section(measured, transpose_forward)
        atomic_write_json(path, fingerprint)
        # Round-trip so callers see exactly what the file holds (JSON keys are strings).
        return json.loads(path.read_text(encoding="utf-8"))

    def _same_raw_files(self, fingerprint: dict[str, Any]) -> bool:
        section = fingerprint.get(SECTION)
        return self.raw_stamp is None or (isinstance(section, dict) and section.get(RAW_STAMP) == self.raw_stamp)

    def _section_is_current(self, fingerprint: dict[str, Any], case_ids: list[str]) -> bool:
        section = fingerprint.get(SECTION)
        return (isinstance(section, dict) and section.get("format_version") == SECTION_VERSION
                and section.get("strata") == dict(self.strata)
                and sorted(section.get("cases", {})) == case_ids
                and self._nnunet_part_is_usable(fingerprint, case_ids))

    @staticmethod
    def _nnunet_part_is_usable(fingerprint: dict[str, Any], case_ids: list[str]) -> bool:
        return all(key in fingerprint for key in _NNUNET_KEYS) and len(fingerprint["spacings"]) == len(case_ids)

    def _measure(self, jobs: list[tuple[Any, ...]], transpose_forward: list[int], processes: int) -> list[CaseObjects]:
        """Measure every case: in this process for one worker, else in a spawn pool."""
        workers = max(1, min(processes, len(jobs)))
        if workers == 1:
            return [measure_case(*job, transpose_forward) for job in track(jobs, _PROGRESS)]
        with _spawn_pool(workers) as pool:
            return self._collect([pool.submit(measure_case_star, (*job, transpose_forward)) for job in jobs])

    def _measure_alongside_nnunet(self, jobs: list[tuple[Any, ...]]) -> tuple[dict, list[int], list[CaseObjects]]:
        """Run nnU-Net's extraction while a smaller pool measures objects, then collect both.

        The slicing axis is nnU-Net's rule applied to the dataset's median spacing, known only
        once nnU-Net is done; the pool starts along the axis the rule gives for the first case
        and, in the rare case that differs, measures again. It gets half the processes because
        its work per case (one label map) is a fraction of nnU-Net's (images, cropping, sampling).
        """
        guess = transpose_for(self._first_spacing(jobs[0]))
        with _spawn_pool(max(1, min(int(self.num_processes) // 2, len(jobs)))) as pool:
            futures = [pool.submit(measure_case_star, (*job, guess)) for job in jobs]
            fingerprint = super().run(overwrite_existing=True)
            transpose_forward = dataset_transpose(fingerprint["spacings"])
            if transpose_forward == guess:
                return fingerprint, transpose_forward, self._collect(futures)
            log.info("slicing axis %d, not %d as guessed: measuring again", transpose_forward[0], guess[0])
            for future in futures:
                future.cancel()
        return fingerprint, transpose_forward, self._measure(jobs, transpose_forward, int(self.num_processes))

    def _jobs(self, case_ids: list[str]) -> list[tuple[Any, ...]]:
        """measure_case arguments per case, all but the transpose."""
        first_image = self.dataset[case_ids[0]]["images"][0]
        reader_writer = determine_reader_writer_from_dataset_json(self.dataset_json, first_image)
        classes, allowed = classes_from_labels(self.dataset_json["labels"])
        return [(case_id, self.dataset[case_id]["label"], reader_writer, classes, allowed) for case_id in case_ids]

    @staticmethod
    def _first_spacing(job: tuple[Any, ...]) -> list[float]:
        _, label_file, reader_writer, *_ = job
        return [float(s) for s in reader_writer().read_seg(label_file)[1]["spacing"]]

    @staticmethod
    def _collect(futures: list[Future]) -> list[CaseObjects]:
        """Pool results in case order, with a progress bar while they come in."""
        index_of = {id(future): index for index, future in enumerate(futures)}
        done: dict[int, CaseObjects] = {}
        with make_progress() as progress:
            task = progress.add_task(_PROGRESS, total=len(futures))
            for future in as_completed(futures):
                done[index_of[id(future)]] = future.result()
                progress.advance(task)
        return [done[index] for index in range(len(futures))]

    def _section(self, measured: list[CaseObjects], transpose_forward: list[int]) -> dict[str, Any]:
        classes, _ = classes_from_labels(self.dataset_json["labels"])
        return {
            "format_version": SECTION_VERSION,
            "definition": "object = 8-connected component of one class in one 2D slice; "
                          "area ratio = object pixels / slice pixels (docs/design/evaluation-protocol.md B3)",
            "slice_axis": transpose_forward[0],
            "transpose_forward": transpose_forward,
            "strata": dict(self.strata),
            **({RAW_STAMP: self.raw_stamp} if self.raw_stamp is not None else {}),
            "classes": classes,
            "summary": summarise_dataset(measured, self.strata),
            "cases": {case.case_id: {**summarise_case(case, self.strata), "foreground_px": foreground_px(case, classes)}
                      for case in measured},
        }
