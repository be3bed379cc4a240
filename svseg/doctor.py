"""`svseg doctor`: the facts a bug report needs, gathered without touching any data."""

from __future__ import annotations

import platform
import shutil
import sys
from importlib import metadata

from svseg import __version__
from svseg.paths import HOME_ENV, NNUNET_ENV, data_root, svseg_home


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def collect_report() -> list[tuple[str, str]]:
    """(label, value) rows: versions, devices, data folders and free disk."""
    import torch

    rows = [
        ("svseg", __version__),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("torch", f"{torch.__version__} (CUDA build: {torch.version.cuda or 'no'})"),
        ("torchvision", _version("torchvision")),
        ("nnunetv2", _version("nnunetv2")),
        ("SimpleITK", _version("SimpleITK")),
        ("CUDA available", str(torch.cuda.is_available())),
    ]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            rows.append((f"GPU {index}", f"{torch.cuda.get_device_name(index)}, "
                                         f"{free / 2**30:.1f} of {total / 2**30:.1f} GiB free"))
    mps = getattr(torch.backends, "mps", None)
    rows.append(("MPS available", str(bool(mps and mps.is_available()))))
    rows.append(("CPU threads", str(torch.get_num_threads())))
    rows.append((f"data root (${HOME_ENV})", str(svseg_home())))
    for kind, variable in NNUNET_ENV.items():
        folder = data_root(kind)
        rows.append((f"{kind} (${variable})", f"{folder} ({'exists' if folder.is_dir() else 'not created yet'})"))
    existing = svseg_home()
    while not existing.exists():
        existing = existing.parent
    rows.append(("free disk", f"{shutil.disk_usage(existing).free / 2**30:.1f} GiB at {existing}"))
    return rows
