"""Sharded prediction: N runs (GPUs, machines, Slurm array tasks) each predict a disjoint part.

``svseg predict --num-parts N --part-id K`` keeps nnU-Net's names and rule
(``nnUNetv2_predict -num_parts N -part_id K`` takes every N-th case of the sorted list, starting
at K): the cases are ordered by the name of the mask they produce, which is the same on every
machine whatever the input order or mount point, so the N parts are disjoint and together cover
every case exactly once. Masks already in the output folder are skipped (``predict``'s rule; they
are written atomically, so one that exists is complete), so a rerun or requeued part predicts only
what is left.

``--num-gpus G`` does the same over the GPUs of this machine: G processes, process g on GPU g
predicting part ``K + N*g`` of ``N*G`` (within part K of N when both are given; the parts of part K
are then exactly part K).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from svseg.errors import SvsegError

if TYPE_CHECKING:
    from svseg.inference.api import PredictResult
    from svseg.inference.inputs import Case

log = logging.getLogger(__name__)


def check_parts(num_parts: int, part_id: int, num_gpus: int = 1) -> None:
    """Refuse a part that does not exist, before anything is read or written."""
    if num_parts < 1:
        raise SvsegError(f"--num-parts {num_parts}: must be at least 1")
    if not 0 <= part_id < num_parts:
        raise SvsegError(f"--part-id {part_id}: must be 0 to {num_parts - 1} for --num-parts {num_parts}")
    if num_gpus < 1:
        raise SvsegError(f"--num-gpus {num_gpus}: must be at least 1")


def select_part(cases: list[Case], num_parts: int, part_id: int) -> list[Case]:
    """Part `part_id` of `num_parts`: every N-th case by output name, from the K-th."""
    check_parts(num_parts, part_id)
    if num_parts == 1:
        return cases
    part = sorted(cases, key=lambda case: case.output.name)[part_id::num_parts]
    log.info("part %d of %d: %d of %d case(s)", part_id, num_parts, len(part), len(cases))
    return part


def predict_on_gpus(num_gpus: int, num_parts: int, part_id: int, **options: Any) -> PredictResult:
    """Predict part `part_id` of `num_parts` with one process per GPU of this machine."""
    import torch

    from svseg.training.device import resolve_device

    if resolve_device(options.get("device", "auto")).type != "cuda":
        raise SvsegError(f"--num-gpus {num_gpus}: needs --device cuda (or auto on a machine with GPUs)")
    if torch.cuda.device_count() < num_gpus:
        raise SvsegError(f"--num-gpus {num_gpus}: {torch.cuda.device_count()} CUDA GPU(s) visible "
                         "(check CUDA_VISIBLE_DEVICES)")
    return predict_in_processes(num_gpus, num_parts, part_id, bind_gpus=True, **options)


def predict_in_processes(processes: int, num_parts: int, part_id: int, bind_gpus: bool,
                         **options: Any) -> PredictResult:
    """Run `processes` predictions side by side on the sub-parts of part `part_id`; one merged result.

    Each process is a fresh interpreter (``spawn``: CUDA cannot be shared with forked children)
    that binds GPU g when `bind_gpus`, else runs on the device in `options`.
    """
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        futures = [pool.submit(_predict_sub_part, g if bind_gpus else None, num_parts * processes,
                               part_id + num_parts * g, options) for g in range(processes)]
        results = [future.result() for future in futures]
    return _merged(results, time.perf_counter() - started)


def _predict_sub_part(gpu: int | None, num_parts: int, part_id: int, options: dict[str, Any]) -> PredictResult:
    """One process of :func:`predict_in_processes`."""
    from svseg.inference.api import predict

    if gpu is not None:
        import torch

        torch.cuda.set_device(gpu)
    return predict(**options, num_parts=num_parts, part_id=part_id)


def _merged(results: list[PredictResult], seconds: float) -> PredictResult:
    """The processes' results as one: files of all, slices summed, the slowest process's time."""
    from svseg.inference.api import PredictResult

    first = next((result for result in results if result.device), results[0])  # one that predicted
    merged = PredictResult(model_dir=first.model_dir, folds=first.folds, tta=first.tta, batch_size=first.batch_size,
                           device=f"{first.device} x {len(results)}", seconds_total=seconds)
    for result in results:
        merged.written.extend(result.written)
        merged.skipped.extend(result.skipped)
        merged.num_slices += result.num_slices
        merged.seconds_predicting = max(merged.seconds_predicting, result.seconds_predicting)
        merged.cpu_seconds_predicting += result.cpu_seconds_predicting
    return merged
