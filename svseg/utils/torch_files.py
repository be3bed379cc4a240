"""Reading ``.pth`` files: the one place svseg calls ``torch.load``, always with ``weights_only=True``.

A ``.pth`` file is a pickle, and a full unpickle (``weights_only=False``) runs whatever callable the
file names (a ``__reduce__`` returning ``os.system`` is enough), so a checkpoint handed around with
a model folder, or a downloaded encoder file, must never be read that way. Torch's weights-only
unpickler rebuilds only tensors, containers, numbers and strings. nnU-Net's own checkpoints also
hold numpy scalars (its training log and best EMA are ``np.float64``), so numpy's scalar and
numeric-dtype reconstructors are allow-listed: they rebuild a number from its bytes and run
nothing else. The name numpy 1.x pickles use (``numpy.core.multiarray.scalar``) is allowed beside
numpy 2's, so checkpoints written by older nnU-Net installs still load.

Every failure is one :class:`~svseg.errors.SvsegError` line naming the file. A file that needs a
full unpickle is refused with the short recipe that converts it once, in a Python the user trusts.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path
from typing import Any

from svseg.errors import SvsegError

_NUMERIC_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
                   "float32", "float64")
_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+)")
_OPERAND_RE = re.compile(r"Unsupported operand \d+")
CHECKPOINT = "checkpoint"  # the kinds of file, as messages name them
PRETRAINED = "pretrained weights file"
# What the conversion keeps: a checkpoint's weights under nnU-Net's key (enough to predict, or to
# train --pretrained from), or for an encoder file the state dict itself (often under 'state_dict').
_KEEP = {
    CHECKPOINT: "{'network_weights': c['network_weights']}",
    PRETRAINED: "{'network_weights': c['network_weights']} if 'network_weights' in c else c.get('state_dict', c)",
}


def numpy_safe_globals() -> list[Any]:
    """numpy's scalar and numeric dtype reconstructors, in the form ``torch.serialization.safe_globals`` takes."""
    import numpy as np

    allowed: list[Any] = [np.dtype, *(type(np.dtype(name)) for name in _NUMERIC_DTYPES)]
    multiarray = getattr(np, "_core", None)
    scalar = getattr(getattr(multiarray, "multiarray", None), "scalar", None)
    if scalar is None:  # numpy 1.x: numpy.core is the real module
        scalar = np.core.multiarray.scalar
    allowed.append(scalar)
    allowed.append((scalar, "numpy.core.multiarray.scalar"))  # the name pickles written under numpy 1.x use
    return allowed


def conversion_recipe(path: Path, what: str = CHECKPOINT) -> str:
    """The one-line Python that re-saves a trusted file's weights so svseg can read it weights-only."""
    where = repr(str(path))
    return (f"import torch; c = torch.load({where}, weights_only=False); "
            f"torch.save({_KEEP.get(what, _KEEP[CHECKPOINT])}, {where})")


def load_torch_file(path: Path | str, map_location: Any = "cpu", what: str = CHECKPOINT) -> Any:
    """The object stored in `path`, read with the weights-only unpickler; any failure is one line.

    `what` (:data:`CHECKPOINT` or :data:`PRETRAINED`) names the kind of file in messages and picks
    the conversion recipe.
    """
    import torch

    path = Path(path)
    _check_file(path, what)
    try:
        with torch.serialization.safe_globals(numpy_safe_globals()), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's pickle-protocol notes; failures are reported below
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        operand = _OPERAND_RE.search(str(exc))
        if "Weights only load failed" in str(exc) and not operand:
            raise SvsegError(refusal_message(path, str(exc), what)) from None
        reason = f"{operand.group(0).lower()} for a torch file" if operand else _first_line(exc)
        raise SvsegError(f"{path}: {what} cannot be read ({reason}); is it truncated or not a torch file?"
                         ) from None
    except Exception as exc:  # a truncated or foreign file fails in many ways; all mean a bad file
        raise SvsegError(f"{path}: {what} cannot be read ({_first_line(exc)}); is it truncated or not a "
                         "torch file?") from None


def refusal_message(path: Path, error: str, what: str = CHECKPOINT) -> str:
    """One line: why `path` is refused and how to convert it if its source is trusted."""
    found = _GLOBAL_RE.search(error)
    reason = f"it names {found.group(1)}" if found else "it holds objects beyond tensors and numbers"
    return (f"{path}: refused: this {what} needs a full unpickle ({reason}), which can run code stored in the "
            f"file; if you trust its source, convert it once in Python: {conversion_recipe(path, what)}")


def _check_file(path: Path, what: str) -> None:
    """A missing path, a folder or an empty file, named before torch reports them less clearly."""
    if path.is_dir():
        raise SvsegError(f"{path}: is a folder, not a {what}")
    if not path.is_file():
        raise SvsegError(f"{path}: {what} not found")
    if path.stat().st_size == 0:
        raise SvsegError(f"{path}: {what} is an empty file (an interrupted save or copy?)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__
