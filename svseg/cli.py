"""The `svseg` command line: each command parses, calls one function, prints.

Heavy imports happen inside the commands so that `svseg --help` stays fast. User errors
(SvsegError) become one line on stderr and exit code 2 in :func:`user_errors_exit_2`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.logging import RichHandler
from typer.core import TyperGroup

from svseg import __version__
from svseg.errors import SvsegError

stdout = Console()
stderr = Console(stderr=True)
# Click's UsageError, found through typer's own BadParameter: typer >= 0.2x vendors click, older ones use it.
_UsageError = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError")


class OneLineUsageErrors(TyperGroup):
    """Typer's command group, with a malformed command line refused like any other input: one line, exit 2.

    Click reports an option value it cannot parse (``--id eleven``), an unknown option or a
    missing one as a usage block in a box; svseg reports it as one ``svseg: error:`` line naming
    the option. A bare ``svseg`` still prints the help.
    """

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except _UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare command asked for its help
                raise
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            message = " ".join(exc.format_message().split()).rstrip(".")
            stderr.print(f"svseg: error: {message} (see {where} --help)", markup=False, highlight=False,
                         soft_wrap=True)
            raise typer.Exit(code=2) from None


app = typer.Typer(
    cls=OneLineUsageErrors,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="svseg: self-configuring segmentation of small medical objects (SvANet on nnU-Net).",
)


@contextmanager
def user_errors_exit_2() -> Iterator[None]:
    """The one place where a user error becomes exit code 2; bugs keep their traceback."""
    try:
        yield
    except SvsegError as exc:
        stderr.print(f"svseg: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"svseg {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars, warnings only."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also other libraries' info and svseg's debug "
                                 "messages."),
) -> None:
    """svseg: self-configuring segmentation of small medical objects (SvANet on nnU-Net)."""
    from svseg.utils.progress import set_quiet

    set_quiet(quiet)
    handler = RichHandler(console=stderr, show_path=False, show_time=False)
    handler.addFilter(_OtherLibraries(logging.INFO if verbose else logging.WARNING))
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)


class _OtherLibraries(logging.Filter):
    """Keeps other libraries' records below `threshold` off the terminal (numexpr's "defaulting to 2 threads")."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name == "svseg" or record.name.startswith("svseg.")
        return own or record.levelno >= self.threshold


@app.command("doctor")
def doctor_cmd() -> None:
    """Show versions, GPU/MPS availability, data folders and free disk.

    Example: svseg doctor
    """
    from svseg.doctor import collect_report

    for label, value in collect_report():
        stdout.print(f"[bold]{label:<28}[/bold] {value}", highlight=False)


@app.command("evaluate")
def evaluate_cmd(
    pred: Path = typer.Option(..., "-p", "--pred", help="Folder of predicted masks."),
    gt: Path = typer.Option(..., "-g", "--gt", help="Folder of reference masks (same stems)."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Output folder (default: PRED/evaluation)."),
    dataset: str | None = typer.Option(None, "-d", "--dataset", help="Dataset whose dataset.json names the labels."),
    chill: bool = typer.Option(False, "--chill", help="Evaluate only the predictions present."),
    workers: int | None = typer.Option(None, "-j", "--num-workers", help="Parallel cases (default: CPU count)."),
    slice_step: int = typer.Option(1, "--slice-step", help="Keep every k-th slice of volumes (plus the last)."),
    paper_grid: int | None = typer.Option(None, "--paper-grid", help="Resize to N x N for the paper block only."),
    thresholds: str = typer.Option("0.01,0.1", "--thresholds", help="Ultra-small,small limits (area fractions)."),
    ignore_value: int | None = typer.Option(None, "--ignore-value", help="Reference value to leave out, e.g. 255."),
    images: Path | None = typer.Option(None, "--images", help="Folder of the cases' images (CASE_0000.* or CASE.*), "
                                       "drawn under the overlays."),
) -> None:
    """Score masks against references, split by object area ratio (< 1 %, < 10 %, all).

    Example: svseg evaluate -p predictions/ -g labelsTr/ -d ATLAS --images imagesTr/
    """
    from rich.box import SIMPLE
    from rich.table import Table

    from svseg.evaluation import dataset_label_mapping, dataset_labels, evaluate_folders

    with user_errors_exit_2():
        limits = _parse_thresholds(thresholds)
        labels = dataset_labels(dataset) if dataset else None
        result = evaluate_folders(pred, gt, out, labels, limits, num_workers=workers, chill=chill,
                                  slice_step=slice_step, paper_grid=paper_grid, ignore_value=ignore_value,
                                  label_mapping=dataset_label_mapping(dataset) if dataset else None,
                                  images_dir=images)
    rows = result.summary_table()
    table = Table(*rows[0], box=SIMPLE, pad_edge=False, collapse_padding=True,
                  title="object level (image Dice for comparison)")
    table.columns[0].min_width = len("ultra_small")
    for row in rows:
        table.add_row(*row.values())
    stdout.print(table)
    stdout.print(f"report: {result.report_path} and {result.html_path}", highlight=False, soft_wrap=True)


def _parse_thresholds(text: str) -> tuple[float, float]:
    """``--thresholds 0.01,0.1``: ultra-small and small limits as fractions of the image area."""
    try:
        ultra, small = (float(part) for part in text.split(","))
    except ValueError:
        ultra = small = float("nan")
    if not 0 < ultra < small < 1:
        raise SvsegError(f"--thresholds {text!r}: need ULTRA,SMALL as fractions of the image area with "
                         "0 < ULTRA < SMALL < 1, e.g. 0.01,0.1 for 1 % and 10 %")
    return ultra, small


@app.command("import")
def import_cmd(
    source: Path = typer.Option(..., "-i", "--input", help="Folder to import (images/ + labels/, MSD task, ...)."),
    name: str = typer.Option(..., "-n", "--name", help="Dataset name (letters, digits, _ and -)."),
    dataset_id: int | None = typer.Option(None, "--id", help="Dataset id (default: the next free one)."),
    labels: str | None = typer.Option(None, "--labels", help="Label names in order, e.g. background,lesion."),
    label: list[str] | None = typer.Option(None, "--label", help="One label name (repeat; background is added)."),
    channels: list[str] | None = typer.Option(None, "--channel-names", help="Channel names, e.g. CT (or T1,T2)."),
    test_fraction: float = typer.Option(0.0, "--test-fraction", help="Hold out this fraction of cases as test."),
    test_split: str | None = typer.Option(None, "--test-split", help="Test case ids (a,b) or a file of them."),
    unlabelled_as_test: bool = typer.Option(False, "--unlabelled-as-test", help="Images without mask -> imagesTs."),
) -> None:
    """Turn a folder of images and masks into an nnU-Net raw dataset (source files are never changed).

    Example: svseg import -i ~/atlas_raw -n ATLAS --labels background,lesion
    """
    from svseg.datasets import import_dataset

    with user_errors_exit_2():
        result = import_dataset(source, name, dataset_id=dataset_id, label_names=[labels or "", *(label or [])],
                                channel_names=channels, test_fraction=test_fraction, test_split=test_split,
                                unlabelled_as_test=unlabelled_as_test)
    for line in result.summary():
        stdout.print(line, highlight=False, soft_wrap=True)


@app.command("validate")
def validate_cmd(dataset: str = typer.Option(..., "-d", "--dataset", help="Dataset name, id or folder name.")) -> None:
    """Check a raw dataset: labels for every image, matching geometry, label values, channels.

    Example: svseg validate -d ATLAS
    """
    from svseg.datasets import validate_dataset

    with user_errors_exit_2():
        report = validate_dataset(dataset)
    stdout.print(f"{report.folder}: OK, {report.num_training} training and {report.num_test} test cases; labels "
                 + ", ".join(f"{k}={v}" for k, v in report.labels.items()), highlight=False, soft_wrap=True)


@app.command("predict", context_settings={"allow_extra_args": True})
def predict_cmd(
    ctx: typer.Context,
    inputs: list[Path] = typer.Option(..., "-i", "--input", help="Folder of scans, or files (repeat -i)."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the masks (not the input folder)."),
    dataset: str | None = typer.Option(None, "-d", "--dataset", help="Dataset name, id or folder name."),
    model: Path | None = typer.Option(None, "-m", "--model", help="Trained model folder (instead of -d)."),
    folds: list[str] | None = typer.Option(None, "-f", "--folds", help="Folds to ensemble: 0 1 2 | all."),
    arch: str | None = typer.Option(None, "--arch", help="Pick the model `svseg train --arch NAME` trained."),
    device: str = typer.Option("auto", "--device", help="auto | cuda | cpu | mps."),
    tta: bool | None = typer.Option(None, "--tta/--no-tta", help="Mirroring TTA (default: on GPU, off on CPU)."),
    save_probabilities: bool = typer.Option(False, "--save-probabilities", help="Also write NAME.npz."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Predict again where a mask exists."),
    checkpoint: str = typer.Option("final", "--checkpoint", help="final | best | latest."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Tiles per forward pass (default: auto)."),
    num_parts: int = typer.Option(1, "--num-parts", help="Split the cases into N parts (runs, machines, tasks)."),
    part_id: int = typer.Option(0, "--part-id", help="Which part (0..N-1) this run predicts."),
    num_gpus: int = typer.Option(1, "--num-gpus", help="Spread the work over this machine's GPUs."),
) -> None:
    """Predict masks with a trained model: any supported format in, same format and geometry out.

    Example: svseg predict -i scans/ -o masks/ -d ATLAS -f 0 1 2 3 4
    """
    from svseg.inference.api import predict

    extra_folds = [a for a in ctx.args if a == "all" or a.isdigit()]  # "-f 0 1 2": click keeps only the 0
    sources = [*inputs, *(Path(a) for a in ctx.args if a not in extra_folds)]
    with user_errors_exit_2():
        result = predict(sources[0] if len(sources) == 1 else sources, output, dataset, model,
                         [*(folds or []), *extra_folds] or None, arch, device, tta, save_probabilities, overwrite,
                         checkpoint, batch_size, num_parts, part_id, num_gpus)
    stdout.print(result.summary(), highlight=False, soft_wrap=True)


@app.command("train")
def train_cmd(
    dataset: str = typer.Option(..., "-d", "--dataset", help="Dataset name, id or folder name."),
    fold: str = typer.Option(..., "-f", "--fold", help="Fold 0-4 of the 5-fold split, or 'all'."),
    arch: str | None = typer.Option(None, "--arch", help="Registered network to train (default: the plan's)."),
    preset: str | None = typer.Option(None, "--preset", help="Use this preset's recipe instead of the plan's."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override the recipe's epochs."),
    iters_per_epoch: int | None = typer.Option(None, "--iters-per-epoch", help="Override iterations per epoch."),
    lr: float | None = typer.Option(None, "--lr", help="Override the peak learning rate."),
    loss: str | None = typer.Option(None, "--loss", help="Override the loss: ce | dice_ce | structure | "
                                    "dice_ce_structure."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Override the batch size."),
    device: str = typer.Option("auto", "--device", help="auto | cuda | cpu | mps."),
    num_gpus: int = typer.Option(1, "--num-gpus", help="GPUs for DDP on this machine (or launch with torchrun)."),
    resume: bool = typer.Option(False, "--continue", help="Resume from the latest checkpoint (re-validate if done)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete this fold's results and train again."),
    compile_net: bool | None = typer.Option(None, "--compile/--no-compile", help="torch.compile (default: on CUDA)."),
    pretrained: Path | None = typer.Option(None, "--pretrained", help="Encoder weights (enables encoder freezing)."),
    num_workers: int | None = typer.Option(None, "--num-workers", help="Augmentation processes (default: auto)."),
) -> None:
    """Train one fold with the plan's recipe, then evaluate it on its held-out cases.

    Example: svseg train -d ATLAS -f 0
    """
    from svseg.training.api import train

    with user_errors_exit_2():
        result = train(dataset, fold, arch=arch, preset=preset, epochs=epochs, iters_per_epoch=iters_per_epoch,
                       lr=lr, batch_size=batch_size, device=device, num_gpus=num_gpus, resume=resume,
                       overwrite=overwrite, compile=compile_net, pretrained=pretrained, num_workers=num_workers,
                       loss=loss)
    for line in result.summary():
        stdout.print(line, highlight=False, soft_wrap=True)


@app.command("plan-and-preprocess")
def plan_and_preprocess_cmd(
    dataset: str = typer.Option(..., "-d", "--dataset", help="Dataset name, id or DatasetNNN_NAME folder."),
    preset: str | None = typer.Option(None, "--preset", help="Preset name (plans/*.json) or a preset file "
                                      "(default: svanet_paper with a CUDA GPU, cpu_default without)."),
    num_processes: int | None = typer.Option(None, "-np", min=1, help="Worker processes (default: all cores)."),
    gpu_memory_gb: float | None = typer.Option(None, "--gpu-memory-gb", help="Training memory target in GB."),
    no_preprocess: bool = typer.Option(False, "--no-preprocess", help="Fingerprint and plan only."),
    clean: bool = typer.Option(False, "--clean", help="Recompute fingerprint, plans and data from scratch."),
    amplification: str = typer.Option("off", "--amplification", help="STS-Net small-lesion sampling: off, code or "
                                      "two-tier (docs/planning.md, Amplification)."),
) -> None:
    """Fingerprint object area ratios, plan SvANet's 2d configuration and preprocess with nnU-Net.

    Example: svseg plan-and-preprocess -d ATLAS --preset svanet_paper
    """
    from svseg.planning.api import plan_and_preprocess

    with user_errors_exit_2():
        result = plan_and_preprocess(dataset, preset, num_processes, gpu_memory_gb, not no_preprocess, clean,
                                     amplification=amplification)
    for line in result.summary_lines():
        stdout.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("svseg_demo"), "--out", "-o", help="Folder for the demo's data, model and results."),
    minutes: float = typer.Option(5.0, "--minutes", help="Time budget for the whole run (training gets the rest)."),
    data: str = typer.Option("2d", "--data", help="2d: embedded nuclei images | 3d: synthetic CT volumes."),
    device: str = typer.Option("auto", "--device", help="auto | cuda | cpu | mps."),
) -> None:
    """Run the whole job (import, plan, train, predict, evaluate) on embedded data; reruns start clean.

    Example: svseg demo --out svseg_demo --minutes 5
    """
    from svseg.demo.api import run_demo

    with user_errors_exit_2():
        result = run_demo(out, minutes, data, device)
    for line in result.summary_lines():
        stdout.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command("compare")
def compare_cmd(
    dataset: str = typer.Option(..., "-d", "--dataset", help="Dataset name, id or folder name (planned)."),
    fold: str = typer.Option("0", "-f", "--fold", help="Fold to train and compare on."),
    archs: str = typer.Option("svanet_tiny,unet", "--archs", help="Registered networks, comma-separated."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override the recipe's epochs (all archs)."),
    iters_per_epoch: int | None = typer.Option(None, "--iters-per-epoch", help="Override iterations per epoch."),
    device: str = typer.Option("auto", "--device", help="auto | cuda | cpu | mps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Retrain archs whose fold is already trained."),
) -> None:
    """Train several networks on one plan and fold; tabulate stratified metrics and cost side by side.

    Example: svseg compare -d DemoNuclei -f 0 --archs svanet_tiny,unet --epochs 4 --iters-per-epoch 25
    """
    from svseg.comparison.api import compare_architectures

    with user_errors_exit_2():
        result = compare_architectures(dataset, fold, archs, epochs=epochs, iters_per_epoch=iters_per_epoch,
                                       device=device, overwrite=overwrite)
    stdout.print(result.markdown, highlight=False, markup=False, soft_wrap=True)
    stdout.print(f"table: {result.markdown_path} (and {result.json_path.name})", highlight=False, markup=False)


if __name__ == "__main__":  # pragma: no cover
    app()
