"""Timings for benchmarks/gpu_check.py, one child process per measurement group.

Two kinds, each printing one JSON object per line as soon as a measurement is done, so a child
stopped at its time limit still reports what it finished:

- ``network``: a registered network's inference and training throughput (random weights, random
  input, cross-entropy on random labels, AdamW), eager or under ``torch.compile``, in the phases
  ``infer``, ``infer-folded`` (BatchNorms folded, blocks/inference_fusion.py), ``train`` and
  ``train-checkpointed`` (AssemFormers recomputed in backward), with peak memory, CUDA kernels and
  host syncs per step (on a GPU),
  compile time (first call minus a steady call) and the graphs dynamo compiled after the first call
  (recompiles; dynamo's ``counters["stats"]["unique_graphs"]``). The issue's anchors use 3 channels,
  8 classes, 512 x 512, batch 16, bf16 autocast.
- ``predictor``: one trained model folder, svseg's batched sliding window against nnU-Net's own
  predictor (one tile per pass) on the same random preprocessed volume, TTA off for both, the
  fastest of alternating repeats.

    python benchmarks/gpu_timing.py network --name svanet --device cuda --size 512 --batch 16 --compile
    python benchmarks/gpu_timing.py predictor --model FOLDER --device cuda --slices 200 --size 512

Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA; on the CPU it is the process's peak
resident set so far (it only grows), reported for completeness, not as a per-row figure.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def emit(record: dict[str, Any]) -> None:
    """One finished measurement as a JSON line on stdout (the parent collects them)."""
    print(json.dumps(record), flush=True)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def unique_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def timed(step: Callable[[], None], device: torch.device, warmup: int, iters: int,
          compiled: bool) -> dict[str, float | None]:
    """First call (compiles, if compiled), more warm-up calls, then the median of `iters` timed calls."""
    synchronize(device)
    start = time.perf_counter()
    step()
    synchronize(device)
    first = time.perf_counter() - start
    graphs_after_first = unique_graphs()
    for _ in range(max(0, warmup - 1)):
        step()
    times = []
    for _ in range(iters):
        synchronize(device)
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"first_call_s": first, "median_s": median, "compile_s": max(0.0, first - median) if compiled else None,
            "recompiles_after_first_call": unique_graphs() - graphs_after_first}


def cuda_activity(step: Callable[[], None], device: torch.device) -> dict[str, int | None]:
    """CUDA kernels (and copies, sets) launched by one step, and the host syncs it made (CUDA only).

    Syncs are counted with ``torch.cuda.set_sync_debug_mode("warn")``, which warns at every
    operation that waits for the GPU (``.item()``, a device-to-host copy, ``nonzero``...).
    """
    if device.type != "cuda":
        return {"cuda_kernels_per_step": None, "host_syncs_per_step": None}
    import warnings

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step()
        synchronize(device)
    kernels = sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = sum(1 for w in caught if "synchroniz" in str(w.message))
    return {"cuda_kernels_per_step": kernels, "host_syncs_per_step": syncs}


PHASES = {
    "infer": (False, {}, False),
    "infer-folded": (False, {}, True),
    "train": (True, {}, False),
    "train-checkpointed": (True, {"activation_checkpointing": "assemformer"}, False),
}
"""phase -> (training, extra network kwargs, BatchNorm folded): the variants svanet is timed in."""


def network_run(args: argparse.Namespace) -> None:
    """The requested phases of one network, eager or compiled, each a JSON line."""
    from svseg.networks import create_network
    from svseg.networks.blocks import fold_batchnorm

    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # nnU-Net's setting for fixed patch sizes
    size = [args.size, args.size]
    dtype = DTYPES[args.dtype]
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    common = {"network": args.name, "device": str(device), "size": args.size, "batch": args.batch,
              "dtype": args.dtype, "compile": args.compile, "channels_last": args.channels_last}

    def build(train: bool, kwargs: dict, fold: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
        torch.manual_seed(0)
        model = create_network(args.name, args.channels, args.classes, patch_size=size, **kwargs)
        model = model.to(device).to(memory_format=layout).train(train)
        if fold:
            model = fold_batchnorm(model)
        runner = torch.compile(model, backend=args.compile_backend) if args.compile else model
        return model, runner

    def autocast() -> Any:
        return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    x = torch.randn(args.batch, args.channels, *size, device=device).to(memory_format=layout)
    for phase in args.phases.split(","):
        train, kwargs, fold = PHASES[phase]
        reset_peak(device)
        graphs_before = unique_graphs()
        started = time.perf_counter()
        try:
            model, runner = build(train, kwargs, fold)
            step = _train_step(model, runner, x, args.classes, autocast, dtype) if train else _infer_step(
                runner, x, autocast)
            record = timed(step, device, args.warmup, args.iters, args.compile)
            record.update(cuda_activity(step, device))
        except Exception as error:  # an OOM or a compile failure is a result to report
            emit({**common, "phase": phase, "error": f"{type(error).__name__}: {str(error)[:400]}"})
            continue
        finally:
            model = runner = step = None
        emit({**common, "phase": phase, **record, "img_s": args.batch / record["median_s"],
              "peak_gb": peak_gb(device), "graphs": unique_graphs() - graphs_before,
              "wall_s": time.perf_counter() - started})


def _infer_step(runner: torch.nn.Module, x: torch.Tensor, autocast: Callable[[], Any]) -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode(), autocast():
            runner(x)

    return step


def _train_step(model: torch.nn.Module, runner: torch.nn.Module, x: torch.Tensor, classes: int,
                autocast: Callable[[], Any], dtype: torch.dtype | None) -> Callable[[], None]:
    """One AdamW step on random labels; fp16 gets a GradScaler as nnU-Net's trainer uses."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    target = torch.randint(0, classes, (x.shape[0], *x.shape[2:]), device=x.device)
    scaler = torch.amp.GradScaler(x.device.type) if dtype is torch.float16 else None

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(runner(x).float(), target)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    return step


def predictor_run(args: argparse.Namespace) -> None:
    """svseg's batched predictor against nnU-Net's on one random preprocessed volume, same model."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from svseg.inference.model_loading import load_model
    from svseg.inference.predictor import default_batch_size, make_predictor

    device = torch.device(args.device)
    model = load_model(Path(args.model), None)
    patch = list(model.configuration_manager.patch_size)
    channels = len(model.dataset_json["channel_names"])
    volume = torch.randn(channels, args.slices, args.size, args.size)
    batch = default_batch_size(device, patch)
    svseg_predictor = make_predictor(model, device, False, batch)
    nnunet = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=False,
                             perform_everything_on_device=device.type == "cuda", device=device, verbose=False,
                             allow_tqdm=False)
    nnunet.manual_initialization(model.network, model.plans_manager, model.configuration_manager, model.parameters,
                                 model.dataset_json, model.trainer_name, model.mirroring_axes)
    contenders = {"svseg": svseg_predictor, "nnunet": nnunet}
    for predictor in contenders.values():  # warm-up: cuDNN's algorithm search, lazy initialisation
        predictor.predict_logits_from_preprocessed_data(volume[:, :2])
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeats):  # alternating, so a busy moment does not fall on one contender only
        for name, predictor in contenders.items():
            synchronize(device)
            start = time.perf_counter()
            predictor.predict_logits_from_preprocessed_data(volume)
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    for name, seconds in times.items():
        emit({"predictor": name, "slices": args.slices, "size": args.size, "patch": patch,
              "tiles_per_pass": batch if name == "svseg" else 1, "seconds": min(seconds),
              "all_seconds": seconds, "slices_s": args.slices / min(seconds)})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    network = kinds.add_parser("network")
    network.add_argument("--name", required=True)
    network.add_argument("--device", default="cuda")
    network.add_argument("--size", type=int, default=512)
    network.add_argument("--batch", type=int, default=16)
    network.add_argument("--channels", type=int, default=3)
    network.add_argument("--classes", type=int, default=8)
    network.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    network.add_argument("--phases", default="infer,train", help=f"comma-separated, of {', '.join(PHASES)}")
    network.add_argument("--compile", action="store_true")
    network.add_argument("--compile-backend", default="inductor")
    network.add_argument("--channels-last", action="store_true")
    network.add_argument("--warmup", type=int, default=3)
    network.add_argument("--iters", type=int, default=10)
    predictor = kinds.add_parser("predictor")
    predictor.add_argument("--model", required=True)
    predictor.add_argument("--device", default="cuda")
    predictor.add_argument("--slices", type=int, default=200)
    predictor.add_argument("--size", type=int, default=512)
    predictor.add_argument("--repeats", type=int, default=2, help="alternating runs of each; the fastest counts")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    network_run(args) if args.kind == "network" else predictor_run(args)


if __name__ == "__main__":
    sys.exit(main())
