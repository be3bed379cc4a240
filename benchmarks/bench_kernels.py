"""CPU proxies for GPU speed: kernels per forward and per training step, MACs, graph breaks, CPU time.

Where no GPU is lent, speed work on a network is measured with counts that do not depend on a busy
machine: every aten operator that reaches the kernel level (below autograd, after composite ops are
decomposed) is counted with a ``TorchDispatchMode``; on a GPU each such call that computes
something is one or more kernel launches, and views and metadata calls launch none, so they are
counted apart. The counts run on the ``meta`` device (shapes only), so the full SvANet at 512 x 512
costs seconds. ``torch.profiler`` is no substitute on a CPU: its leaf ``aten::`` events there are
the CPU kernels' own internals (2420 for svanet_tiny's forward, 1000 of them ``aten::empty``); on
a GPU benchmarks/gpu_timing.py counts the CUDA kernels themselves. Optionally: CPU seconds of
eager forward passes (median of repeats, process CPU time, which a loaded machine disturbs less
than wall time) and dynamo's graph and break counts (``torch._dynamo.explain``, eager backend).

    .venv/bin/python benchmarks/bench_kernels.py --network svanet --size 512 --top 15
    .venv/bin/python benchmarks/bench_kernels.py --network svanet_tiny --size 256 --cpu-time 5 --explain
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from svseg.networks import count_macs, count_parameters, create_network
from svseg.networks.blocks.inference_fusion import fold_batchnorm

METADATA_OPS = {"aten.empty.memory_format", "aten.empty_strided.default", "aten.detach.default",
                "aten.lift_fresh.default", "aten.set_.source_Storage_storage_offset", "aten._unsafe_view.default"}


class KernelCounter(TorchDispatchMode):
    """Counts aten calls at the kernel level, split into computing calls and views/metadata.

    ``written`` adds up the bytes of the tensors the computing calls return (in-place calls: the
    tensor they write), a proxy for the memory traffic of the memory-bound part of a network.
    """

    def __init__(self) -> None:
        super().__init__()
        self.compute: Counter[str] = Counter()
        self.views: Counter[str] = Counter()
        self.written: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = str(func)
        returns = func._schema.returns
        alias = returns[0].alias_info if returns else None
        is_view = alias is not None and not alias.is_write
        out = func(*args, **(kwargs or {}))
        if is_view or name in METADATA_OPS:
            self.views[name] += 1
        else:
            self.compute[name] += 1
            outputs = out if isinstance(out, (tuple, list)) else [out]
            self.written[name] += sum(t.numel() * t.element_size() for t in outputs if isinstance(t, torch.Tensor))
        return out


def count_kernels(run: Callable[[], None]) -> KernelCounter:
    counter = KernelCounter()
    with counter:
        run()
    return counter


def meta_counts(args: argparse.Namespace) -> dict[str, Any]:
    """Kernel counts of an eval forward, a training forward and a training step, on the meta device."""
    with torch.device("meta"):
        model = create_network(args.network, 3, args.classes, patch_size=[args.size, args.size], **args.arch_kwargs)
    x = torch.zeros(args.batch, 3, args.size, args.size, device="meta")
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    x = x.to(memory_format=layout)
    target = torch.zeros(args.batch, args.size, args.size, dtype=torch.long, device="meta")

    inference_model = fold_batchnorm(model) if args.fold_batchnorm else model.eval()

    def forward_eval() -> None:
        with torch.no_grad():
            inference_model(x)

    def forward_train() -> None:
        with torch.no_grad():
            model.train()(x)

    def train_step() -> None:
        F.cross_entropy(model.train()(x), target).backward()

    result: dict[str, Any] = {"params": count_parameters(model)}
    with torch.device("meta"):
        result["gmacs_per_image"] = count_macs(model.eval(), (1, 3, args.size, args.size)) / 1e9
    for label, run in (("eval_forward", forward_eval), ("train_forward", forward_train), ("train_step", train_step)):
        counter = count_kernels(run)
        result[f"{label}_kernels"] = sum(counter.compute.values())
        result[f"{label}_views"] = sum(counter.views.values())
        result[f"{label}_gb_written_per_image"] = sum(counter.written.values()) / args.batch / 1e9
        if label == "train_step":
            with FlopCounterMode(display=False) as flops:
                run()
            result["train_step_gflops_per_image"] = flops.get_total_flops() / args.batch / 1e9
            result["train_step_top"] = {name: n for name, n in counter.compute.most_common(args.top)}
    return result


def cpu_measurements(args: argparse.Namespace) -> dict[str, Any]:
    """CPU seconds per eager forward and dynamo graphs, on real CPU tensors."""
    torch.manual_seed(0)
    model = create_network(args.network, 3, args.classes, patch_size=[args.size, args.size], **args.arch_kwargs)
    x = torch.randn(args.batch, 3, args.size, args.size)
    if args.channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    if args.fold_batchnorm:
        with torch.no_grad():
            model.train()(x)  # running statistics that are not the identity, so folding does real work
    model = fold_batchnorm(model) if args.fold_batchnorm else model.eval()
    result: dict[str, Any] = {}
    if args.cpu_time:
        times = []
        with torch.no_grad():
            model(x)
            for _ in range(args.cpu_time):
                start = time.process_time()
                model(x)
                times.append(time.process_time() - start)
        result["eval_forward_cpu_s_median"] = statistics.median(times)
        result["eval_forward_cpu_s_all"] = [round(t, 4) for t in times]
    if args.explain and not args.fold_batchnorm:
        from torch import _dynamo

        for train in (False, True):
            _dynamo.reset()
            explanation = _dynamo.explain(model.train(train))(x)
            mode = "train" if train else "eval"
            result[f"dynamo_{mode}_graphs"] = explanation.graph_count
            result[f"dynamo_{mode}_breaks"] = explanation.graph_break_count
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="svanet")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=2, help="2: BatchNorm needs two samples in training")
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--arch-kwargs", type=json.loads, default={},
                        help='network kwargs as JSON, e.g. \'{"activation_checkpointing": "stages"}\'')
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--fold-batchnorm", action="store_true",
                        help="eval passes on blocks.inference_fusion.fold_batchnorm's copy")
    parser.add_argument("--top", type=int, default=15, help="most frequent kernels of a training step to list")
    parser.add_argument("--cpu-time", type=int, default=0, help="timed eager CPU forwards (0: skip)")
    parser.add_argument("--explain", action="store_true", help="torch._dynamo.explain graphs and breaks")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    report = {"settings": vars(args) | {"json": str(args.json)}, "torch": torch.__version__, **meta_counts(args)}
    if args.cpu_time or args.explain:
        report.update(cpu_measurements(args))
    text = json.dumps(report, indent=1)
    print(text)
    if args.json is not None:
        from svseg.utils.fs import atomic_write_text

        atomic_write_text(args.json, text + "\n")


if __name__ == "__main__":
    main()
