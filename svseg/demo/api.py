"""``run_demo``: the whole job on embedded data, sized to a time budget.

The demo is the README's first command, so it must work on a fresh install with no data and no
GPU, and finish in a few minutes on a 2-core laptop. It prepares the embedded data in
``out_dir`` and then calls each stage's public API exactly as a user's own run would:
import (a seeded test split is held out) -> plan-and-preprocess (the quick CPU preset with
``svanet_tiny``) -> train (epochs x iterations sized by :mod:`svseg.demo.budget` from timed
steps) -> predict the held-out cases -> evaluate them with the stratified metrics.

Reruns start clean: the demo deletes what an earlier demo run made (its prepared data, its
predictions and evaluation in ``out_dir``, and the demo dataset's folders in the data roots)
before starting. A half-finished earlier run can therefore never leak into the numbers, and
the demo's dataset name (``DemoNuclei``/``DemoSynthCT``) is reserved for it.

``SVSEG_HOME`` is set to ``out_dir/svseg_data`` for the run unless the user set it (then the
user's root and nnU-Net variables are used, as every other command would), and restored
afterwards, together with nnU-Net's three variables, so the process is left as it was found.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from svseg.datasets.held_out import held_out_case_ids, stage_cases
from svseg.demo.budget import TrainingBudget
from svseg.demo.data import DATA_KINDS, DemoData, prepare_demo_data
from svseg.demo.stages import (
    FOLD,
    calibrate_budget,
    evaluate_demo,
    import_demo,
    plan_demo,
    predict_demo,
    train_demo,
)
from svseg.errors import SvsegError
from svseg.evaluation.headline import StratumSummary, metrics_markdown, summarise_metrics
from svseg.paths import HOME_ENV, NNUNET_ENV, known_datasets

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("svseg_demo")
MIN_CASES = 7
"""nnU-Net's 5-fold split needs 5 training cases; 20 % of 7 cases (rounded) is the one test case."""


@dataclass(frozen=True)
class DemoResult:
    """Where every artefact of a demo run is, its headline numbers and how long each stage took."""

    out_dir: Path
    data_root: Path
    dataset: str
    inputs_dir: Path
    raw_dir: Path
    plans_path: Path
    model_dir: Path
    test_cases_dir: Path
    predictions_dir: Path
    evaluation_dir: Path
    metrics_path: Path
    report_path: Path
    summaries: list[StratumSummary]
    budget: TrainingBudget
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def wall_seconds(self) -> float:
        """Total time of the run."""
        return sum(self.stage_seconds.values())

    def table_markdown(self) -> str:
        """The stratified metrics as a markdown table."""
        return metrics_markdown(self.summaries)

    def summary_lines(self) -> list[str]:
        """What a terminal shows at the end: where each artefact is, the metrics, the time taken."""
        timing = ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in self.stage_seconds.items())
        return [
            f"demo data:        {self.inputs_dir}",
            f"raw dataset:      {self.raw_dir}",
            f"plans:            {self.plans_path}",
            f"model:            {self.model_dir} ({self.budget.epochs} epochs x {self.budget.iters_per_epoch} "
            "iterations)",
            f"test cases:       {self.test_cases_dir}",
            f"predictions:      {self.predictions_dir}",
            f"metrics:          {self.metrics_path}",
            f"report:           {self.report_path} (open {self.report_path.with_suffix('.html').name} in a browser)",
            "",
            f"Held-out test cases of {self.dataset}, by object area ratio (Dice and F1 as fractions):",
            "",
            *self.table_markdown().splitlines(),
            "",
            f"done in {self.wall_seconds / 60:.1f} min ({timing})",
        ]


def run_demo(out_dir: Path | str = DEFAULT_OUT, minutes: float = 5.0, data: str = "2d", device: str = "auto",
             *, max_cases: int | None = None, num_processes: int | None = None) -> DemoResult:
    """Run import -> plan-and-preprocess -> train -> predict -> evaluate on the demo data.

    ``minutes`` is the budget for the whole run; training gets what the other stages leave.
    ``max_cases`` limits the number of cases (the tests use a handful). ``num_processes`` is
    passed to preprocessing (default 2: the demo targets small machines).
    """
    if not minutes > 0:
        raise SvsegError(f"--minutes {minutes}: must be positive")
    if data not in DATA_KINDS:
        raise SvsegError(f"--data {data!r}: choose one of {', '.join(DATA_KINDS)}")
    if max_cases is not None and max_cases < MIN_CASES:
        raise SvsegError(f"the demo needs at least {MIN_CASES} cases (5 to cross-validate, 1 or more to test), "
                         f"got {max_cases}")
    from svseg.training.device import resolve_device
    from svseg.utils.fs import check_writable_dir

    resolve_device(device)  # an impossible device is refused now, not after import and planning
    started = time.perf_counter()
    out_dir = check_writable_dir(Path(out_dir).expanduser(), "demo output").resolve()
    timer = _StageTimer()
    with _demo_environment(out_dir) as data_root:
        with timer("prepare"):
            demo_data = _start_clean(out_dir, data, max_cases)
        with timer("import"):
            dataset = import_demo(demo_data)
            cases, source = held_out_case_ids(dataset.raw_dir, dataset.preprocessed_dir, FOLD)
            staged = stage_cases(dataset.raw_dir, cases, source, out_dir / "test_cases")
        with timer("plan-and-preprocess"):
            planned = plan_demo(dataset, num_processes)
        with timer("calibrate"):
            seconds_left = minutes * 60.0 - (time.perf_counter() - started)
            budget = calibrate_budget(planned, device, seconds_left, staged.num_cases,
                                      timer.seconds["plan-and-preprocess"])
        with timer("train"):
            trained = train_demo(dataset, budget, device)
        with timer("predict"):
            predict_demo(dataset, staged.images_dir, out_dir / "predictions", device)
        with timer("evaluate"):
            evaluation = evaluate_demo(dataset, out_dir / "predictions", staged.labels_dir, out_dir / "evaluation",
                                       planned.plans.strata)
        # inside the block: DatasetRef paths are resolved from the environment of the run
        return DemoResult(
            out_dir=out_dir, data_root=data_root, dataset=dataset.folder_name, inputs_dir=demo_data.root,
            raw_dir=dataset.raw_dir, plans_path=planned.plans.path, model_dir=Path(trained.model_dir),
            test_cases_dir=staged.images_dir.parent, predictions_dir=out_dir / "predictions",
            evaluation_dir=evaluation.out_dir, metrics_path=evaluation.metrics_path, report_path=evaluation.report_path,
            summaries=summarise_metrics(evaluation.metrics), budget=budget, stage_seconds=timer.seconds,
        )


class _StageTimer:
    """Times named stages and logs each as it ends, so a slow stage is visible in the log."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        log.info("demo: %s ...", stage)
        start = time.perf_counter()
        yield
        self.seconds[stage] = time.perf_counter() - start
        log.info("demo: %s done in %.1f s", stage, self.seconds[stage])


@contextmanager
def _demo_environment(out_dir: Path) -> Iterator[Path]:
    """Point SVSEG_HOME at ``out_dir/svseg_data`` unless the user chose a root; restore on exit.

    Without a user-chosen SVSEG_HOME, nnU-Net's own variables are lifted for the run too, so an
    nnU-Net installation's folders are not written into by a demo that promised to stay in
    ``out_dir``. With SVSEG_HOME set, everything is honoured as in every other command.
    """
    saved = {name: os.environ.get(name) for name in (HOME_ENV, *NNUNET_ENV.values())}
    if not saved[HOME_ENV]:
        os.environ[HOME_ENV] = str(out_dir / "svseg_data")
        for variable in NNUNET_ENV.values():
            os.environ.pop(variable, None)
    try:
        from svseg.paths import export_nnunet_environment, svseg_home

        export_nnunet_environment()
        yield svseg_home()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _start_clean(out_dir: Path, data: str, max_cases: int | None) -> DemoData:
    """Delete what an earlier demo run made, then prepare the inputs afresh."""
    for stale in (out_dir / "test_cases", out_dir / "predictions", out_dir / "evaluation"):
        if stale.exists():
            shutil.rmtree(stale)
    demo_data = prepare_demo_data(data, out_dir / "data", max_cases=max_cases)
    for ref in known_datasets():
        if ref.name == demo_data.dataset_name:
            for folder in (ref.raw_dir, ref.preprocessed_dir, ref.results_dir):
                if folder.exists():
                    log.info("demo: removing the previous demo run's %s", folder)
                    shutil.rmtree(folder)
    return demo_data
