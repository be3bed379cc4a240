"""Before a training starts on the CPU: how long a GPU-sized plan would take here, and the command that fits a CPU.

Why: ``svanet_paper`` plans the 202 M-parameter SvANet at 512 x 512 (365 GMACs per image), which
on a laptop CPU is days per fold; a user should learn that before the first epoch, together with
the exact commands that give a CPU-sized plan (preset ``cpu_default``; its accuracy against
nnU-Net's U-Net at equal compute is in docs/benchmarks.md, "Accuracy"). The estimate needs no
training step: the network's multiply-accumulates per patch are counted on PyTorch's ``meta``
device (shapes only), a training iteration costs about three forward passes (backward is about
twice the forward), and this CPU's rate is measured with a 3 x 3 convolution for about 0.2 s on
the threads training will use. Such MAC-based figures are rough (a factor of about two either way:
attention and memory-bound layers run below the convolution rate), which is why the message says
"about".
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from svseg.planning.presets import CPU_PRESET

log = logging.getLogger(__name__)

CPU_PRESETS = (CPU_PRESET, "cpu_quick")
"""Presets sized for a CPU: training with them never prints the advice."""
SLOW_SECONDS = 3600.0
"""A run estimated to take longer than this on the CPU gets the advice (an hour)."""


@dataclass(frozen=True)
class CpuEstimate:
    """Estimated cost of a run on this CPU: GFLOP per training iteration, the measured rate, seconds."""

    gflop_per_iteration: float
    cpu_gflops: float
    seconds_per_iteration: float
    total_seconds: float


def measure_cpu_gflops(seconds: float = 0.2) -> float:
    """GFLOP/s of a 64 -> 64 channel 3 x 3 convolution on a 96 x 96 map, with the current torch threads."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False)
    image = torch.randn(1, 64, 96, 96)
    flop = 2 * 64 * 64 * 9 * 96 * 96
    with torch.no_grad():
        conv(image)  # first call: allocation and kernel selection
        calls, started = 0, time.perf_counter()
        while calls < 2 or time.perf_counter() - started < seconds:
            conv(image)
            calls += 1
    return flop * calls / (time.perf_counter() - started) / 1e9


def estimate_cpu_training(plans: dict[str, Any], configuration: str, channels: int, classes: int,
                          recipe: Any) -> CpuEstimate:
    """Training (and per-epoch validation) cost of `recipe` on `configuration`, from the network's MACs."""
    from svseg.networks import count_macs
    from svseg.nnunet_touchpoints import plans_manager
    from svseg.training.network_from_plans import build_network_from_plans

    patch = tuple(int(side) for side in plans_manager(plans).get_configuration(configuration).patch_size)
    with torch.device("meta"):
        network = build_network_from_plans(plans, configuration, channels, classes, deep_supervision=False)
    macs = count_macs(network, (1, channels, *patch))
    train_gflop = 6 * macs * recipe.batch_size / 1e9  # forward: 2 FLOP per MAC; backward about twice that
    val_gflop = 2 * macs * recipe.batch_size / 1e9
    rate = measure_cpu_gflops()
    total = recipe.epochs * (recipe.iters_per_epoch * train_gflop + recipe.val_iters_per_epoch * val_gflop) / rate
    return CpuEstimate(train_gflop, rate, train_gflop / rate, total)


def duration(seconds: float) -> str:
    """Seconds as a short human duration: 40 min, 7.5 h, 3.2 days."""
    if seconds < 5400:
        return f"{max(1, math.ceil(seconds / 60))} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def cpu_advice(dataset: str, fold: int | str, preset: str, network: str, estimate: CpuEstimate) -> list[str]:
    """The lines printed before a GPU-sized plan trains on the CPU: the estimate and the CPU commands."""
    return [
        f"training on the CPU: this plan (preset {preset}, {network}) needs about "
        f"{estimate.gflop_per_iteration:,.0f} GFLOP per iteration, about {estimate.seconds_per_iteration:,.0f} s "
        f"each at the {estimate.cpu_gflops:.0f} GFLOP/s this CPU reached just now: about "
        f"{duration(estimate.total_seconds)} for this fold",
        f"for a CPU, plan with the CPU preset (minutes to an hour): svseg plan-and-preprocess -d {dataset} "
        f"--preset {CPU_PRESET} && svseg train -d {dataset} -f {fold}",
    ]


def warn_if_gpu_sized(plans: dict[str, Any], configuration: str, dataset_json: dict[str, Any], recipe: Any,
                      dataset: str, fold: int | str, network: str) -> CpuEstimate | None:
    """Log the estimate and the CPU commands when a non-CPU preset's run would take over an hour here.

    Returns the estimate (None for a CPU preset's plan, which is not estimated).
    """
    preset = str(plans.get("svseg", {}).get("preset", ""))
    if preset in CPU_PRESETS:
        return None
    channels = len(dataset_json.get("channel_names") or dataset_json.get("modality") or {"0": ""})
    estimate = estimate_cpu_training(plans, configuration, channels, len(dataset_json["labels"]), recipe)
    if estimate.total_seconds > SLOW_SECONDS:
        for line in cpu_advice(dataset, fold, preset, network, estimate):
            log.warning("%s", line)
    return estimate
