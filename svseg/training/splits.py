"""Whether nnU-Net can split a dataset for the requested fold, checked before any training work.

nnU-Net 2.8.1's ``nnUNetTrainer.do_split``: fold ``all`` trains and validates on every case. A
numbered fold reads ``splits_final.json`` in the dataset's preprocessed folder. When the file
is missing, nnU-Net writes a 5-fold ``KFold`` split of all cases, which sklearn refuses for
fewer than 5 cases with a raw ValueError deep inside the trainer, after the run has started.
When the file exists, a fold it defines is used as written (a user's own file may hold any
number of folds). A fold beyond them would get nnU-Net's seeded random 80:20 split, a training
nobody asked for (``-f 7`` is a typo more often than a plan), so svseg refuses it: the folds are
0-4 without the file (nnU-Net's five) and exactly those the file defines with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from svseg.errors import SvsegError
from svseg.nnunet_touchpoints import NNUNET_FOLDS, SPLITS_FILE


def check_fold_split(dataset: str, preprocessed_dir: Path, plans: dict[str, Any], configuration: str,
                     fold: int | str) -> None:
    """Raise SvsegError when nnU-Net could not split `dataset` for `fold`, or `fold` is not one of its folds."""
    if fold == "all":
        return
    splits_file = Path(preprocessed_dir) / SPLITS_FILE
    if not splits_file.is_file():
        if not 0 <= int(fold) < NNUNET_FOLDS:
            raise SvsegError(f"fold {fold}: nnU-Net's {NNUNET_FOLDS}-fold split has folds 0-{NNUNET_FOLDS - 1}; "
                             f"use one of them or `-f all` (or write your own split to {splits_file})")
        cases = count_training_cases(preprocessed_dir, plans, configuration)
        if cases < NNUNET_FOLDS:
            raise SvsegError(
                f"dataset {dataset} has {cases} training case{'s' if cases != 1 else ''}; nnU-Net's "
                f"{NNUNET_FOLDS}-fold cross-validation needs at least {NNUNET_FOLDS}: use `-f all`, add cases, "
                f"or write your own split to {splits_file}"
            )
        return
    num_folds = len(_read_splits(splits_file))
    if not 0 <= int(fold) < num_folds:
        defined = f"folds 0-{num_folds - 1}" if num_folds > 1 else ("fold 0" if num_folds == 1 else "no fold")
        raise SvsegError(f"{splits_file}: defines {defined}, not fold {fold}; use one of them or `-f all`")


def count_training_cases(preprocessed_dir: Path, plans: dict[str, Any], configuration: str) -> int:
    """The cases nnU-Net would split: those preprocessed for `configuration` (else ``numTraining``).

    Counts the files nnU-Net's dataset classes list as cases (``CASE.b2nd`` without the
    ``_seg`` files, or ``CASE.npz``) in the configuration's data folder.
    """
    from svseg.nnunet_touchpoints import plans_manager

    folder = Path(preprocessed_dir) / plans_manager(plans).get_configuration(configuration).data_identifier
    if folder.is_dir():
        names = [path.name for path in folder.iterdir()]
        blosc = {n[: -len(".b2nd")] for n in names if n.endswith(".b2nd") and not n.endswith("_seg.b2nd")}
        numpy = {n[: -len(".npz")] for n in names if n.endswith(".npz")}
        return len(blosc | numpy)
    dataset_json = Path(preprocessed_dir) / "dataset.json"
    try:
        return int(json.loads(dataset_json.read_text(encoding="utf-8"))["numTraining"])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise SvsegError(f"{dataset_json}: cannot read numTraining ({exc}); run svseg plan-and-preprocess") from None


def _read_splits(path: Path) -> list[Any]:
    try:
        splits = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SvsegError(f"{path}: cannot be read as nnU-Net's split file ({exc})") from None
    if not isinstance(splits, list) or not all(isinstance(s, dict) and {"train", "val"} <= set(s) for s in splits):
        raise SvsegError(f"{path}: not nnU-Net's split format (a list of {{'train': [...], 'val': [...]}} folds)")
    return splits
