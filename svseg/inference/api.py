"""``svseg predict`` as a Python function: files in, masks in the same format and geometry out.

The order of work is chosen so that bad input fails before anything is written or any
checkpoint is loaded: pick the model folder, list the inputs and their output names, check
every input's header and channel count, then load the fold checkpoints and predict case by
case (read with svseg.io -> nnU-Net preprocessing -> batched, chunked sliding-window prediction
-> atomic write).

Test-time augmentation (mirroring) is on by default on a GPU and off on the CPU: it multiplies
the work by four for a 2D model, which is affordable on a GPU but turns minutes into a quarter
of an hour on a laptop CPU, for a small gain (see docs/prediction.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from svseg.errors import SvsegError
from svseg.inference.inputs import Case, check_case, convention_for_reader, list_cases, model_input_rule
from svseg.inference.model_loading import (
    checkpoint_file_name,
    model_channel_names,
    model_reader_class,
    resolve_folds,
    select_model,
)
from svseg.inference.writing import output_paths, probabilities_path

if TYPE_CHECKING:
    import torch

    from svseg.io.channel_rule import ChannelRule

log = logging.getLogger(__name__)


@dataclass
class PredictResult:
    """What a prediction run did: files written and skipped, the model used, and timings.

    ``seconds_predicting`` (wall) and ``cpu_seconds_predicting`` (this process's CPU time) cover
    reading, preprocessing, prediction and writing of the cases, not model loading.
    """

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    model_dir: Path | None = None
    folds: list[str] = field(default_factory=list)
    device: str = ""
    tta: bool = False
    batch_size: int = 0
    num_slices: int = 0
    seconds_total: float = 0.0
    seconds_predicting: float = 0.0
    cpu_seconds_predicting: float = 0.0

    def summary(self) -> str:
        """One or two lines for the terminal: what was written, with which model, how fast."""
        masks = [p for p in self.written if p.suffix != ".npz"]
        lines = []
        if masks:
            lines.append(f"wrote {len(masks)} mask(s) to {masks[0].parent} with {self.model_dir} "
                         f"(folds {', '.join(self.folds)}, {self.device}, TTA {'on' if self.tta else 'off'}): "
                         f"{self.num_slices} slice(s) in {self.seconds_predicting:.1f} s, "
                         f"{self.slices_per_second:.1f} slices/s")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} existing mask(s) in {self.skipped[0].parent} "
                         "(use --overwrite to predict them again)")
        return "\n".join(lines)

    @property
    def slices_per_second(self) -> float:
        """Slices (2D images count as one) predicted per second, excluding model loading."""
        return self.num_slices / self.seconds_predicting if self.seconds_predicting > 0 else 0.0


def predict(
    inputs: list[Path] | Path,
    output_dir: Path,
    dataset: str | None = None,
    model_dir: Path | None = None,
    folds: list[str] | None = None,
    arch: str | None = None,
    device: str = "auto",
    tta: bool | None = None,
    save_probabilities: bool = False,
    overwrite: bool = False,
    checkpoint: str = "final",
    batch_size: int | None = None,
    num_parts: int = 1,
    part_id: int = 0,
    num_gpus: int = 1,
) -> PredictResult:
    """Predict a mask for every input with a trained svseg (or nnU-Net) model.

    `inputs` is a folder or a list of files / DICOM series folders with any names; a folder named
    the nnU-Net way (``CASE_0000.nii.gz`` ...) is read as nnU-Net's cases (docs/prediction.md). The model is
    `model_dir`, or the trained model of `dataset` (``arch`` picks the one ``svseg train --arch`` of that
    name trained, :func:`~svseg.inference.model_loading.select_model`), or the only
    trained model under the results root. `folds` (default: every fold with the checkpoint) are
    ensembled by averaging their logits. `tta` None means on for GPU/MPS, off for CPU.
    Existing masks are skipped unless `overwrite`. `num_parts`/`part_id` predict one part of the cases
    and `num_gpus` spreads the work over this machine's GPUs (:mod:`~svseg.inference.sharding`).
    Raises SvsegError for any bad input.
    """
    from svseg.inference.sharding import check_parts, predict_on_gpus, select_part
    from svseg.paths import resolve_dataset, results_root
    from svseg.training.device import resolve_device
    from svseg.utils.fs import check_output_dir

    started = time.perf_counter()
    checkpoint_file_name(checkpoint)
    if batch_size is not None and batch_size < 1:
        raise SvsegError(f"--batch-size must be >= 1, got {batch_size}")
    check_parts(num_parts, part_id, num_gpus)
    check_output_dir(output_dir, "output")  # writable before the model loads; clears a killed run's temporaries
    torch_device = resolve_device(device)  # an impossible device fails before any work
    if num_gpus > 1:
        return predict_on_gpus(num_gpus, num_parts, part_id, inputs=inputs, output_dir=output_dir, dataset=dataset,
                               model_dir=model_dir, folds=folds, arch=arch, device=device, tta=tta,
                               save_probabilities=save_probabilities, overwrite=overwrite, checkpoint=checkpoint,
                               batch_size=batch_size)
    dataset_dir = resolve_dataset(dataset).results_dir if dataset is not None and model_dir is None else None
    folder = select_model(results_root(), dataset_dir, model_dir, arch, checkpoint)
    fold_names = resolve_folds(folder, folds, checkpoint)
    convention = convention_for_reader(model_reader_class(folder))
    channel_names = model_channel_names(folder)
    rule = model_input_rule(folder)
    cases = select_part(list_cases(inputs, Path(output_dir), len(channel_names)), num_parts, part_id)
    if save_probabilities:
        _check_unique_probabilities(cases)
    todo = [c for c in cases if overwrite or not all(p.exists() for p in output_paths(c, save_probabilities))]
    result = PredictResult(skipped=[c.output for c in cases if c not in todo], model_dir=folder, folds=fold_names)
    if result.skipped:
        log.info("skipping %d existing mask(s) in %s (use --overwrite to predict them again)",
                 len(result.skipped), output_dir)
    for case in todo:
        check_case(case, rule, channel_names)
    if todo:
        _run(todo, folder, fold_names, convention, torch_device, tta, save_probabilities, checkpoint, batch_size,
             result, (rule, channel_names))
    result.seconds_total = time.perf_counter() - started
    log.info("wrote %d mask(s) to %s in %.1f s", len([p for p in result.written if p.suffix != ".npz"]),
             output_dir, result.seconds_total)
    return result


def _run(todo: list[Case], folder: Path, folds: list[str], convention: str, torch_device: torch.device,
         tta: bool | None, save_probabilities: bool, checkpoint: str, batch_size: int | None,
         result: PredictResult, channels: tuple[ChannelRule, list[str]]) -> None:
    """Load the model and predict `todo`, recording files and timings in `result`.

    Volumes are predicted one by one in chunks of slices; consecutive 2D images go through an
    :class:`~svseg.inference.image_batches.ImageBatcher`, which stacks up to ``batch_size`` of
    them per forward pass.
    """
    from svseg.inference.chunked import predict_preprocessed, preprocess
    from svseg.inference.image_batches import ImageBatcher
    from svseg.inference.inputs import read_case, to_nnunet_array
    from svseg.inference.model_loading import load_model
    from svseg.inference.predictor import make_predictor
    from svseg.inference.progress import PredictionProgress
    from svseg.inference.writing import write_prediction

    model = load_model(folder, folds, checkpoint)
    use_tta = (torch_device.type != "cpu") if tta is None else bool(tta)
    predictor = make_predictor(model, torch_device, use_tta, batch_size)
    result.device, result.tta, result.batch_size = str(torch_device), use_tta, predictor.batch_size
    log.info("predicting %d case(s) on %s, TTA %s, %d tile(s) per forward pass", len(todo), torch_device,
             "on" if use_tta else "off", predictor.batch_size)

    def record(key: object, prediction) -> None:
        case, image = key
        result.written.extend(write_prediction(case, image, prediction))
        result.num_slices += prediction.num_slices

    batcher = ImageBatcher(predictor, save_probabilities, record)
    predicting_started, cpu_started = time.perf_counter(), time.process_time()
    with PredictionProgress(len(todo)) as bar:
        predictor.on_slices = bar.slices_predicted
        for case in bar.cases(todo):
            image = read_case(case, *channels)
            network_input, properties = preprocess(predictor, *to_nnunet_array(image, convention))
            bar.add_slices(network_input.shape[1])
            if not image.is_volume and network_input.shape[1] == 1:
                batcher.add((case, image), network_input, properties)
                continue
            batcher.flush()  # keep outputs in input order
            record((case, image), predict_preprocessed(predictor, network_input, properties,
                                                       with_probabilities=save_probabilities))
        batcher.flush()
    result.seconds_predicting = time.perf_counter() - predicting_started
    result.cpu_seconds_predicting = time.process_time() - cpu_started


def _check_unique_probabilities(cases: list[Case]) -> None:
    seen: dict[Path, Path] = {}
    for case in cases:
        target = probabilities_path(case)
        if target in seen:
            raise SvsegError(f"{case.source}: its probabilities would overwrite those of {seen[target]} "
                             f"({target.name}); rename one of them")
        seen[target] = case.source
