"""svseg's figures in their own matplotlib style, whatever another library set globally.

nnU-Net calls ``seaborn.set(font_scale=2.5)`` each time it draws ``progress.png``; that changes
matplotlib's global settings for the rest of the process, so a figure drawn after training (the
fold's final validation) would inherit fonts 2.5 times too large and cut-off labels. Every svseg
figure is therefore built and saved inside :func:`figure_style`, a local ``rc_context`` starting
from matplotlib's defaults. Figures use ``matplotlib.figure.Figure`` (no pyplot state), so they
work in worker processes and on headless machines.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec

import matplotlib
from matplotlib import style as mpl_style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from svseg.utils.fs import atomic_path

P = ParamSpec("P")

#: svseg's settings on top of matplotlib's defaults: sizes that read at 100-110 dpi.
STYLE = {"font.size": 9.0, "axes.titlesize": 9.5, "axes.labelsize": 9.0, "xtick.labelsize": 8.0,
         "ytick.labelsize": 8.0, "legend.fontsize": 8.0, "figure.dpi": 100.0, "savefig.dpi": 110.0,
         "axes.grid": False, "image.interpolation": "nearest"}


@contextmanager
def figure_style() -> Iterator[None]:
    """matplotlib's defaults plus :data:`STYLE`, for the duration of the block only."""
    with mpl_style.context("default"):  # an rc_context: everything set inside is undone on exit
        matplotlib.rcParams.update(STYLE)
        yield


def styled(builder: Callable[P, Figure]) -> Callable[P, Figure]:
    """Build a figure on an Agg canvas inside :func:`figure_style` and draw it once there.

    Drawing creates the tick labels with the local style; later draws (``savefig``) reuse them,
    so a figure built here reads the same wherever it is saved.
    """

    @functools.wraps(builder)
    def build(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with figure_style():
            figure = builder(*args, **kwargs)
            FigureCanvasAgg(figure)  # attaches itself as figure.canvas; a plain Figure's base canvas cannot draw
            figure.canvas.draw()
        return figure

    return build


def save_figure(figure: Figure, target: Path) -> Path:
    """Save a PNG atomically, inside the local style."""
    with figure_style(), atomic_path(target) as tmp:
        figure.savefig(tmp, format="png")
    return target


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes (for embedding), inside the local style."""
    buffer = io.BytesIO()
    with figure_style():
        figure.savefig(buffer, format="png")
    return buffer.getvalue()
