"""A record of every name nnU-Net is asked to resolve into code, for the tests that plans stay data."""

from __future__ import annotations

import pydoc
from typing import Any

import pytest


def spy_on_name_resolvers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name handed to ``pydoc.locate`` or nnU-Net's module search while the test runs."""
    from nnunetv2.utilities import find_class_by_name

    calls: list[str] = []
    locate, search = pydoc.locate, find_class_by_name._recursive_find_python_class

    def spy_locate(path: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(path))
        return locate(path, *args, **kwargs)

    def spy_search(folder: str, class_name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(class_name))
        return search(folder, class_name, *args, **kwargs)

    monkeypatch.setattr(pydoc, "locate", spy_locate)
    monkeypatch.setattr(find_class_by_name, "_recursive_find_python_class", spy_search)
    return calls
