"""Holding labelled cases out as test cases (``imagesTs``/``labelsTs``).

nnU-Net cross-validates on ``imagesTr`` and never looks at ``imagesTs``, so a held-out test set
must be set aside at import. The choice is either explicit (case ids) or a fraction drawn with a
fixed seed, so importing the same folder twice gives the same split.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from pathlib import Path

from svseg.datasets.dataset_json import split_names
from svseg.datasets.pairing import CaseSource
from svseg.errors import SvsegError

SPLIT_SEED = 12345


def parse_case_list(spec: Sequence[str] | str | Path | None) -> list[str]:
    """Case ids from ``"a,b"``, a list, or a text file with one id (or comma list) per line."""
    if spec is None:
        return []
    if isinstance(spec, Path) or (isinstance(spec, str) and Path(spec).is_file()):
        try:
            lines = Path(spec).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SvsegError(f"{spec}: cannot read the test split file ({exc})") from None
        return split_names([line for line in lines if not line.lstrip().startswith("#")])
    return split_names(spec)


def assign_test_cases(
    cases: list[CaseSource],
    test_fraction: float = 0.0,
    test_cases: Sequence[str] | str | Path | None = None,
) -> list[CaseSource]:
    """Mark labelled cases as test cases, by id or by a seeded random fraction of them."""
    names = parse_case_list(test_cases)
    if not 0.0 <= test_fraction < 1.0:
        raise SvsegError(f"--test-fraction {test_fraction}: must be at least 0 and below 1")
    if names and test_fraction > 0:
        raise SvsegError("give either --test-fraction or --test-split, not both")
    labelled = sorted(case.case_id for case in cases if not case.test)
    if names:
        unknown = sorted(set(names) - set(labelled))
        if unknown:
            raise SvsegError(
                f"--test-split names unknown or unlabelled cases: {', '.join(unknown[:5])}"
                + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else "")
            )
        chosen = set(names)
    elif test_fraction > 0:
        count = max(1, round(test_fraction * len(labelled)))
        chosen = set(random.Random(SPLIT_SEED).sample(labelled, min(count, len(labelled))))
    else:
        return cases
    return [dataclasses.replace(case, test=True) if case.case_id in chosen else case for case in cases]
