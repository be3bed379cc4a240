"""Benchmark registered networks: parameters, MACs, inference and training throughput, peak memory.

Not a test (house rule R10, docs/design/style.md): it prints a table and writes JSON; results go to docs/benchmarks.md
with the machine, command and date. Example (CPU, what docs/benchmarks.md "Networks (CPU)" ran):

    .venv/bin/python benchmarks/bench_networks.py --networks svanet_tiny unet --size 256 \
        --device cpu --dtype fp32 --infer-batches 1 4 --train-batch 2 --json bench_networks_cpu.json

On a GPU the issue's targets are measured with `--device cuda --dtype bf16 --infer-batches 1 16
--train-batch 16 [--compile] [--channels-last]`. MACs are counted once per network on the meta
device at batch 1 (conv + matmul, torch FlopCounterMode / 2). Training uses AdamW and
cross-entropy on random labels, deep supervision off. Peak memory is torch's
`max_memory_allocated` on CUDA; on CPU it is the process's peak resident set size so far
(`ru_maxrss`), which only ever grows, so read it as an upper bound per row.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from svseg.networks import count_macs, count_parameters, create_network, list_networks
from svseg.utils.fs import atomic_write_json

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=["svanet_tiny", "unet"], help="registered network names")
    parser.add_argument("--channels", type=int, default=3, help="input channels")
    parser.add_argument("--classes", type=int, default=2, help="output classes")
    parser.add_argument("--size", type=int, nargs="+", default=[256], help="input side, or H W")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32", help="autocast dtype (fp32 = off)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    parser.add_argument("--infer-batches", type=int, nargs="+", default=[1, 16], help="inference batch sizes")
    parser.add_argument("--train-batch", type=int, default=4, help="training batch size (>= 2 for BatchNorm)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations before timing")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=Path("bench_networks.json"), help="output JSON file")
    args = parser.parse_args(argv)
    unknown = [n for n in args.networks if n not in list_networks()]
    if unknown:
        parser.error(f"unknown network(s) {unknown}; registered: {list_networks()}")
    if len(args.size) not in (1, 2):
        parser.error("--size takes one side or H W")
    return args


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(step: Callable[[], None], device: torch.device, warmup: int, iters: int) -> float:
    """Median wall time of `step` after `warmup` untimed calls (device synchronised around each)."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        synchronize(device)
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def build(name: str, args: argparse.Namespace, size: tuple[int, int], device: torch.device) -> torch.nn.Module:
    model = create_network(name, args.channels, args.classes, patch_size=size).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def bench_network(name: str, args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    size = (args.size[0], args.size[-1])
    autocast_dtype = DTYPES[args.dtype]
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format

    with torch.device("meta"):
        meta_model = create_network(name, args.channels, args.classes, patch_size=size)
    row: dict[str, Any] = {
        "network": name,
        "params": count_parameters(meta_model),
        "gmacs_per_image": count_macs(meta_model, (1, args.channels, *size)) / 1e9,
    }

    def autocast() -> Any:
        return torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None)

    model = build(name, args, size, device)
    runner = torch.compile(model) if args.compile else model
    model.eval()
    for batch in args.infer_batches:
        x = torch.randn(batch, args.channels, *size, device=device).to(memory_format=memory_format)
        reset_peak(device)

        def infer(x: torch.Tensor = x) -> None:
            with torch.inference_mode(), autocast():
                runner(x)

        seconds = median_seconds(infer, device, args.warmup, args.iters)
        row[f"infer_b{batch}_img_s"] = batch / seconds
        row[f"infer_b{batch}_peak_mb"] = peak_memory_mb(device)
    del runner, model

    model = build(name, args, size, device).train()
    runner = torch.compile(model) if args.compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = args.train_batch
    x = torch.randn(batch, args.channels, *size, device=device).to(memory_format=memory_format)
    target = torch.randint(0, args.classes, (batch, *size), device=device)
    reset_peak(device)

    def train_step() -> None:
        with autocast():
            loss = F.cross_entropy(runner(x).float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds = median_seconds(train_step, device, args.warmup, args.iters)
    row[f"train_b{batch}_img_s"] = batch / seconds
    row[f"train_b{batch}_peak_mb"] = peak_memory_mb(device)
    return row


def machine_info(device: torch.device) -> dict[str, Any]:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15": list(os.getloadavg()),
    }
    try:
        info["cpu"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        info["cpu"] = platform.processor()
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def git_revision() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    widths = {c: max(len(c), *(len(format_cell(row.get(c))) for row in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(format_cell(row.get(c)).ljust(widths[c]) for c in columns))


def format_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    for name in args.networks:
        torch.manual_seed(0)
        rows.append(bench_network(name, args))
        print(f"done: {name}", file=sys.stderr, flush=True)
    print_table(rows)
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git_revision": git_revision(),
        "machine": machine_info(device),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "results": rows,
    }
    atomic_write_json(args.json, report)
    print(f"written: {args.json}")


if __name__ == "__main__":
    main()
