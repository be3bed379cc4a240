"""The demo's input data: the embedded nuclei images (2D) or the synthetic CT-like volumes (3D).

Both end up as the plainest layout ``svseg import`` reads, ``images/`` and ``labels/`` with one
file per case paired by name, in a folder the user can look at: the demo is also an example of
what to hand to ``svseg import`` for one's own data. The 2D data ships inside the package
(``svseg/demo_data/nuclei``, CC0, see its README) and is copied, never modified in place; the 3D
data is generated from a fixed seed, so every run sees the same cases.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from svseg.demo.synthetic3d import LABELS as SYNTHETIC_LABELS
from svseg.demo.synthetic3d import SyntheticSpec, write_synthetic_dataset
from svseg.errors import SvsegError
from svseg.utils.fs import atomic_copy

log = logging.getLogger(__name__)

DATA_KINDS = ("2d", "3d")
NUCLEI_LABELS: dict[str, int] = {"background": 0, "nucleus": 1}
"""Label names of the nuclei masks (stored as 0/255 PNGs; import maps 255 to 1)."""


@dataclass(frozen=True)
class DemoData:
    """A prepared demo input folder and what ``svseg import`` needs to know about it."""

    kind: str
    dataset_name: str
    root: Path
    images_dir: Path
    labels_dir: Path
    labels: dict[str, int]
    num_cases: int


def embedded_nuclei_dir() -> Path:
    """The packaged nuclei folder (``images/``, ``labels/``, ``README.md``), read-only."""
    folder = Path(str(resources.files("svseg") / "demo_data" / "nuclei"))
    if not (folder / "images").is_dir():
        raise SvsegError(f"{folder}: embedded demo data missing; reinstall svseg")
    return folder


def prepare_demo_data(kind: str, target: Path | str, max_cases: int | None = None, seed: int = 0) -> DemoData:
    """Put the demo's input cases into ``target`` and describe them.

    ``max_cases`` keeps the first cases only (the tests use it to stay fast); the 3D data is
    generated with ``seed``. The demo owns ``target/nuclei`` and ``target/synthetic3d``: they are
    emptied first, so a rerun with fewer cases leaves no stale case behind.
    """
    if kind not in DATA_KINDS:
        raise SvsegError(f"unknown demo data {kind!r}; choose one of: {', '.join(DATA_KINDS)}")
    if max_cases is not None and max_cases < 2:
        raise SvsegError(f"the demo needs at least 2 cases (one to train, one to test), got {max_cases}")
    target = Path(target)
    folder = target / ("nuclei" if kind == "2d" else "synthetic3d")
    if folder.exists():
        shutil.rmtree(folder)
    if kind == "2d":
        return _copy_nuclei(folder, max_cases)
    spec = SyntheticSpec(num_cases=max_cases or SyntheticSpec.num_cases, seed=seed)
    dataset = write_synthetic_dataset(folder, spec)
    return DemoData("3d", "DemoSynthCT", dataset.root, dataset.images_dir, dataset.labels_dir,
                    dict(SYNTHETIC_LABELS), len(dataset.case_ids))


def _copy_nuclei(root: Path, max_cases: int | None) -> DemoData:
    source = embedded_nuclei_dir()
    images = sorted((source / "images").glob("*.png"))
    if max_cases is not None:
        images = images[:max_cases]
    for image in images:
        atomic_copy(image, root / "images" / image.name)
        atomic_copy(source / "labels" / image.name, root / "labels" / image.name)
    atomic_copy(source / "README.md", root / "README.md")
    log.info("copied %d embedded nuclei image/mask pairs to %s", len(images), root)
    return DemoData("2d", "DemoNuclei", root, root / "images", root / "labels", dict(NUCLEI_LABELS), len(images))
