"""``plan_and_preprocess``: fingerprint -> plan -> preprocess for one raw dataset.

The function behind ``svseg plan-and-preprocess``. It is safe to re-run at any point:

- the fingerprint is reused when its svseg section matches the cases, the thresholds and the raw
  files (name, size, modification time: a raw file edited in place is measured again);
- planning always runs (it is deterministic and takes seconds), and plans are written atomically;
- nnU-Net's preprocessing is skipped only when a completion record, written after nnU-Net
  finished, names the same cases, raw files and preprocessing settings and every case's files
  exist; otherwise it is redone from scratch (nnU-Net's preprocessor empties its folder first).
  An interrupted run therefore needs no manual clean-up: the next run also removes the temporary
  files a killed run left (:func:`svseg.utils.fs.remove_stale_temporaries`).

Before any of that, every raw file must be readable and the preprocessed folder writable, so a
bad input fails in one line and leaves no folder behind. One run per dataset at a time: a second
``plan-and-preprocess`` of the same dataset is refused while the first holds the lock file
``.plan-and-preprocess.lock`` in the preprocessed folder (:mod:`svseg.utils.locks`). Training
checks the completion record (:func:`check_preprocessed`) before it starts.

nnU-Net prints to stdout; that output goes to this module's debug log instead, so the command
line shows the summary only.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svseg.errors import SvsegError
from svseg.paths import DatasetRef, export_nnunet_environment, resolve_dataset
from svseg.planning.amplification import check_mode
from svseg.planning.fingerprint import (
    FINGERPRINT_FILE,
    RAW_STAMP,
    SECTION,
    AreaRatioFingerprintExtractor,
)
from svseg.planning.plans import CONFIGURATION, PLANS_NAME, SvsegPlans, load_plans, plans_path
from svseg.planning.presets import CPU_PRESET, default_preset, load_preset
from svseg.planning.raw_files import check_raw_dataset, first_bad_raw_file
from svseg.utils.fs import atomic_write_json, check_writable_dir, remove_stale_temporaries
from svseg.utils.locks import run_lock
from svseg.utils.progress import folder_progress, progress_enabled

log = logging.getLogger(__name__)

LOCK_FILE = ".plan-and-preprocess.lock"
_PREPROCESSED_ENDINGS = (".b2nd", "_seg.b2nd", ".pkl")


@dataclass
class PlanResult:
    """What one plan-and-preprocess run produced, with the numbers its summary prints."""

    dataset: str
    plans: SvsegPlans
    fingerprint_path: Path
    preprocessing: str
    area_stats: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """A short human summary: cases, slices, objects per stratum, decisions taken."""
        summary = self.area_stats["summary"]
        strata = summary["all_classes"]["strata"]
        lines = [
            f"{self.dataset}: {summary['cases']} cases, {summary['slices']} slices "
            f"({summary['slices_without_foreground']} without foreground), preset {self.plans.preset}",
            "objects (slices holding one): " + ", ".join(
                f"{name} {strata[name]['objects']} ({strata[name]['slices']})"
                for name in ("ultra_small", "small", "all")),
        ]
        lines += [f"- {d['what']}: {json.dumps(_short(d['value']))} ({d['reason']})" for d in self.plans.decisions]
        amplification = self.plans.amplification
        if amplification.enabled and "all" in amplification.folds:
            fold = amplification.folds["all"]
            lines.append(f"- amplification {amplification.mode}: all cases N1 {fold['N1']}, N2 {fold['N2']}, "
                         f"units per tier 0/1/2 {fold['tier_counts']} (weights per fold in the plans)")
        lines.append(f"plans: {self.plans.path}")
        lines.append(f"preprocessing: {self.preprocessing}")
        timing = ", ".join(f"{step} {sec:.1f} s" for step, sec in self.seconds.items())
        lines.append(f"time: {timing}")
        return lines


def _short(value: Any) -> Any:
    """Floats to 4 significant digits, for printing (the plans keep full precision)."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, list):
        return [_short(item) for item in value]
    if isinstance(value, dict):
        return {key: _short(item) for key, item in value.items()}
    return value


def plan_and_preprocess(
    dataset: str,
    preset: str | None = None,
    num_processes: int | None = None,
    gpu_memory_gb: float | None = None,
    preprocess: bool = True,
    clean: bool = False,
    amplification: str = "off",
) -> PlanResult:
    """Fingerprint (with object area ratios), plan the 2d configuration, and preprocess it.

    `dataset` is a name, id or ``DatasetNNN_NAME``; `preset` a shipped preset name or a preset
    JSON path (None: :func:`~svseg.planning.presets.default_preset`, the CPU preset on a machine
    without a CUDA GPU); `num_processes` defaults to every CPU core; `gpu_memory_gb` overrides the
    preset's memory target; `clean` recomputes everything from the raw data; `amplification`
    (off, code, two-tier) plans STS-Net's small-lesion sampling weights (planning/amplification.py).
    """
    check_mode(amplification)
    export_nnunet_environment()
    ref = resolve_dataset(dataset)
    chosen = load_preset(preset or default_preset())
    processes = int(num_processes) if num_processes is not None else (os.cpu_count() or 1)
    if processes < 1:
        raise SvsegError(f"-np {num_processes}: need at least one process")
    if gpu_memory_gb is not None and gpu_memory_gb <= 0:
        raise SvsegError(f"--gpu-memory-gb {gpu_memory_gb}: must be > 0")
    case_ids, stamp = check_raw_dataset(ref)
    folder = ref.preprocessed_dir
    if folder.exists() and not folder.is_dir():
        raise SvsegError(f"{folder}: expected the preprocessed dataset folder, found a file; remove it")
    check_writable_dir(folder, "preprocessed dataset")
    with run_lock(folder / LOCK_FILE, f"svseg plan-and-preprocess -d {ref.folder_name}"):
        remove_stale_temporaries(folder, recursive=True)
        result = _plan_locked(ref, chosen, processes, gpu_memory_gb, preprocess, clean, amplification, case_ids,
                              stamp)
    if preset is None and chosen.name == CPU_PRESET:  # after success: a refusal stays one line
        log.info("no CUDA GPU here: planned with preset %s for CPU training (to train on a GPU elsewhere, "
                 "plan with --preset svanet_paper)", CPU_PRESET)
    return result


def _plan_locked(ref: DatasetRef, chosen: Any, processes: int, gpu_memory_gb: float | None, preprocess: bool,
                 clean: bool, amplification: str, case_ids: list[str], stamp: str) -> PlanResult:
    """Fingerprint, plan and preprocess, holding the dataset's lock (checks done)."""
    from svseg.planning.planner import SvsegPlanner

    folder = ref.preprocessed_dir
    plans_file = plans_path(folder)
    if clean:
        _remove_outputs(folder)
    elif plans_file.exists():
        _read_json(plans_file, "plans file")
    seconds: dict[str, float] = {}
    with _timed(seconds, "fingerprint"):
        fingerprint = _fingerprint(ref, chosen, processes, stamp)
    with _timed(seconds, "plan"), _nnunet_stdout_to_log():
        SvsegPlanner(ref.dataset_id, chosen, gpu_memory_gb, amplification=amplification).plan_experiment()
    plans = load_plans(plans_file)
    if not preprocess:
        state = "skipped (--no-preprocess)"
    else:
        with _timed(seconds, "preprocess"):
            state = _preprocess(ref, plans, case_ids, processes, stamp)
    return PlanResult(ref.folder_name, plans, folder / FINGERPRINT_FILE, state, fingerprint[SECTION], seconds)


def _fingerprint(ref: DatasetRef, chosen: Any, processes: int, stamp: str) -> dict[str, Any]:
    """nnU-Net's fingerprint with svseg's section; a raw file nnU-Net cannot read is one line naming it."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset

    try:
        with _nnunet_stdout_to_log():
            return extract_fingerprint_dataset(
                ref.dataset_id, AreaRatioFingerprintExtractor.configured(chosen.strata, stamp), processes,
                check_dataset_integrity=False, clean=False, verbose=False, show_progress_bar=progress_enabled())
    except SvsegError:
        raise
    except Exception as exc:
        log.debug("fingerprinting %s failed (%r); reading each raw file to find the cause", ref.folder_name, exc)
        problem = first_bad_raw_file(ref)
        if problem is None:
            raise  # every file reads: a bug, keep the traceback
        raise SvsegError(problem) from None


def check_preprocessed(ref: DatasetRef, plans: SvsegPlans) -> None:
    """Raise SvsegError unless the plans' preprocessing finished: training reads every case's arrays.

    The completion record beside the data folder is written only after nnU-Net's preprocessing
    returned, so a missing record means an interrupted (or skipped) preprocessing; the record's
    cases must all have their files. Other preprocessing settings than the plans hold now are only
    warned about: a hand-edited plans file (patch size, say) need not mean other arrays.
    """
    data_dir = ref.preprocessed_dir / str(plans.nnunet_configuration()["data_identifier"])
    marker = _marker_path(data_dir)
    again = f"run svseg plan-and-preprocess -d {ref.name} again; it resumes"
    recorded = _read_record(marker)
    if recorded is None or recorded.get("plans_name") != plans.plans_name:
        raise SvsegError(f"{data_dir}: preprocessing of {ref.folder_name} is incomplete (no completion record "
                         f"{marker.name}); {again}")
    cases = [str(case) for case in recorded.get("cases", [])]
    missing = _missing_files(data_dir, cases)
    if missing:
        raise SvsegError(f"{missing[0]}: missing, with {len(missing) - 1} other preprocessed file(s) of "
                         f"{ref.folder_name}; {again}")
    if {k: v for k, v in recorded.items() if k != RAW_STAMP} != _preprocessing_key(plans, cases):
        log.warning("%s: preprocessed with other settings than %s now holds; run svseg plan-and-preprocess -d %s "
                    "to redo it", data_dir, plans.path.name, ref.name)


def _read_record(marker: Path) -> dict[str, Any] | None:
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _missing_files(data_dir: Path, cases: list[str]) -> list[Path]:
    return [data_dir / f"{case}{ending}" for case in cases for ending in _PREPROCESSED_ENDINGS
            if not (data_dir / f"{case}{ending}").is_file()]


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or not UTF-8
        raise SvsegError(f"{path}: {what} is not valid JSON ({' '.join(str(exc).split())[:160]}); fix or delete it, "
                         "or re-run with --clean") from None


def _remove_outputs(folder: Path) -> None:
    """--clean: forget the fingerprint, svseg's plans and their preprocessed data (nothing else)."""
    data = folder / f"{PLANS_NAME}_{CONFIGURATION}"
    for path in (folder / FINGERPRINT_FILE, plans_path(folder), _marker_path(data)):
        path.unlink(missing_ok=True)
    if data.is_dir():
        shutil.rmtree(data)


def _marker_path(data_dir: Path) -> Path:
    # Beside the data folder, not in it: nnU-Net infers its dataset class from the file endings
    # inside and refuses a folder with a stray .json.
    return data_dir.with_name(f"{data_dir.name}.complete.json")


def _preprocessing_key(plans: SvsegPlans, case_ids: list[str], stamp: str | None = None) -> dict[str, Any]:
    """Everything nnU-Net's preprocessed arrays depend on (not batch size or network), with the raw files' stamp."""
    configuration = plans.nnunet_configuration()
    relevant = {key: value for key, value in configuration.items() if key not in ("batch_size", "architecture")}
    relevant["transpose_forward"] = plans.raw.get("transpose_forward")
    relevant["intensity"] = plans.raw.get("foreground_intensity_properties_per_channel")
    digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()
    key = {"plans_name": plans.plans_name, "configuration": plans.configuration, "settings_sha256": digest,
           "cases": case_ids}
    return key if stamp is None else {**key, RAW_STAMP: stamp}


def _preprocess(ref: DatasetRef, plans: SvsegPlans, case_ids: list[str], processes: int, stamp: str) -> str:
    """Run nnU-Net's DefaultPreprocessor unless a matching completion record says it is done."""
    data_dir = ref.preprocessed_dir / str(plans.nnunet_configuration()["data_identifier"])
    marker = _marker_path(data_dir)
    key = _preprocessing_key(plans, case_ids, stamp)
    if marker.is_file() and _complete(marker, key, data_dir):
        return f"up to date ({data_dir})"
    marker.unlink(missing_ok=True)
    from nnunetv2.experiment_planning.plan_and_preprocess_api import preprocess_dataset

    started = time.perf_counter()
    # nnU-Net's own bar is tqdm; svseg's rich bar counts the CASE.pkl each finished case ends with
    with _nnunet_stdout_to_log(), folder_progress(data_dir, "*.pkl", len(case_ids), "preprocessing cases"):
        preprocess_dataset(ref.dataset_id, plans.plans_name, (plans.configuration,), [processes],
                           verbose=False, show_progress_bar=False)
    atomic_write_json(marker, key)
    seconds = time.perf_counter() - started
    log.info("preprocessed %d cases in %.1f s (%.2f s per case) into %s", len(case_ids), seconds,
             seconds / max(len(case_ids), 1), data_dir)
    return f"done ({len(case_ids)} cases in {data_dir})"


def _complete(marker: Path, key: dict[str, Any], data_dir: Path) -> bool:
    recorded = _read_record(marker)
    if recorded is None:
        return False
    if recorded != key:
        log.info("preprocessed data of %s is stale; redoing it", data_dir)
        return False
    return not _missing_files(data_dir, key["cases"])


@contextlib.contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[step] = time.perf_counter() - start


class _LogWriter(io.TextIOBase):
    """A text stream that turns each printed line into a debug log record."""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                log.debug("nnU-Net: %s", line)
        return len(text)


class _DropRootRecords(logging.Filter):
    """Drops records logged on the root logger itself: distutils' per-file "copying ..." lines.

    A filter on a logger sees only records logged there, not those propagated from svseg's
    named loggers, so nothing of svseg's is lost.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextlib.contextmanager
def _nnunet_stdout_to_log() -> Iterator[None]:
    """nnU-Net's prints become debug records; its distutils file-copy chatter is dropped."""
    root, drop = logging.getLogger(), _DropRootRecords()
    root.addFilter(drop)
    try:
        with contextlib.redirect_stdout(_LogWriter()):
            yield
    finally:
        root.removeFilter(drop)
