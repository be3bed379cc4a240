"""Wall time of svseg's area-ratio fingerprint against nnU-Net's own fingerprint extraction.

svseg's extractor runs nnU-Net's extraction and then its own per-slice object pass, so the
ratio svseg / nnU-Net shows what the object statistics cost (target: <= 1.3).

Two datasets are built in a temporary SVSEG_HOME, in nnU-Net raw layout:
- ``2d``: the nuclei images embedded in svseg (RGB PNG 256 x 256, masks mapped 0/255 -> 0/1),
  or every ``images/*.png`` + ``labels/*.png`` pair of ``--png-dir``;
- ``3d``: svseg's seeded synthetic CT-like volumes (NIfTI, three classes).

Each extractor runs ``--repeats`` times, alternating, with ``clean=True`` (nothing reused);
the median is reported.

    python benchmarks/bench_fingerprint.py -np 2 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _write_dataset_json(folder: Path, channels: dict, labels: dict, count: int, ending: str) -> None:
    payload = {"channel_names": channels, "labels": labels, "numTraining": count, "file_ending": ending}
    (folder / "dataset.json").write_text(json.dumps(payload, indent=2))


def build_png_dataset(raw: Path, png_dir: Path | None) -> str:
    """Dataset901_BenchPng from nuclei PNG pairs."""
    if png_dir is None:
        png_dir = Path(__file__).resolve().parents[1] / "svseg" / "demo_data" / "nuclei"
    folder = raw / "Dataset901_BenchPng"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    pairs = sorted((png_dir / "images").glob("*.png"))
    for index, image_path in enumerate(pairs):
        case = f"nuc_{index:04d}"
        Image.open(image_path).convert("RGB").save(folder / "imagesTr" / f"{case}_0000.png")
        mask = np.asarray(Image.open(png_dir / "labels" / image_path.name)) > 0
        Image.fromarray(mask.astype(np.uint8)).save(folder / "labelsTr" / f"{case}.png")
    _write_dataset_json(folder, {"0": "R", "1": "G", "2": "B"}, {"background": 0, "nucleus": 1}, len(pairs), ".png")
    return folder.name


def build_nifti_dataset(raw: Path, cases: int, shape: tuple[int, int, int]) -> str:
    """Dataset902_BenchVol from svseg's synthetic CT-like generator."""
    from svseg.demo.synthetic3d import LABELS, SyntheticSpec, write_synthetic_dataset

    folder = raw / "Dataset902_BenchVol"
    generated = write_synthetic_dataset(raw.parent / "synthetic", SyntheticSpec(num_cases=cases, shape_zyx=shape))
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    for case in generated.case_ids:
        os.replace(generated.images_dir / f"{case}.nii.gz", folder / "imagesTr" / f"{case}_0000.nii.gz")
        os.replace(generated.labels_dir / f"{case}.nii.gz", folder / "labelsTr" / f"{case}.nii.gz")
    _write_dataset_json(folder, {"0": "CT"}, LABELS, cases, ".nii.gz")
    return folder.name


def time_extractor(dataset_id: int, extractor: type, processes: int) -> float:
    """Seconds for one full (clean) fingerprint extraction."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset

    start = time.perf_counter()
    extract_fingerprint_dataset(
        dataset_id, extractor, num_processes=processes, clean=True, verbose=False, show_progress_bar=False
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-np", "--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--png-dir", type=Path, default=None, help="folder with images/ and labels/ PNG pairs")
    parser.add_argument("--volumes", type=int, default=20, help="number of synthetic 3D cases")
    parser.add_argument("--volume-shape", type=int, nargs=3, default=(40, 256, 256), metavar=("Z", "Y", "X"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="svseg_bench_fp_") as home:
        os.environ["SVSEG_HOME"] = home
        for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
            os.environ.pop(variable, None)
        from svseg.paths import export_nnunet_environment

        export_nnunet_environment()
        from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import (
            DatasetFingerprintExtractor,
        )

        from svseg.planning.fingerprint import AreaRatioFingerprintExtractor

        raw = Path(home) / "raw"
        datasets = {
            901: build_png_dataset(raw, args.png_dir),
            902: build_nifti_dataset(raw, args.volumes, tuple(args.volume_shape)),
        }
        for dataset_id, name in datasets.items():
            times: dict[str, list[float]] = {"nnunet": [], "svseg": []}
            for _ in range(args.repeats):
                times["nnunet"].append(time_extractor(dataset_id, DatasetFingerprintExtractor, args.processes))
                times["svseg"].append(time_extractor(dataset_id, AreaRatioFingerprintExtractor, args.processes))
            nnunet, svseg = statistics.median(times["nnunet"]), statistics.median(times["svseg"])
            cases = json.loads((raw / name / "dataset.json").read_text(encoding="utf-8"))["numTraining"]
            print(
                f"{name}: {cases} cases, -np {args.processes}, median of {args.repeats}: "
                f"nnU-Net {nnunet:.2f} s, svseg {svseg:.2f} s, ratio {svseg / nnunet:.2f}"
            )


if __name__ == "__main__":
    main()
