"""progress.png: later epochs stay visible beside a huge first validation loss, and the text fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nnunetv2.training.logging.nnunet_logger import MetaLogger
from PIL import Image as PILImage

from svseg.training.progress_plot import ReadableProgressLogger, draw_progress, loss_limits, use_readable_progress_plot

from ..evaluation.figure_checks import nnunet_global_style, text_problems


def _log(logger: object, epochs: int, first_val_loss: float = 207.0) -> None:
    """The demo's pattern: val loss 207 in epoch 1, then about -0.8; train loss falling from 0.3."""
    for epoch in range(epochs):
        val_loss = first_val_loss if epoch == 0 else -0.5 - 0.03 * epoch
        values = {"train_losses": 0.3 - 0.08 * epoch, "val_losses": val_loss,
                  "mean_fg_dice": 0.3 + 0.04 * epoch, "ema_fg_dice": 0.2 + 0.04 * epoch,
                  "dice_per_class_or_region": [0.5], "lrs": 0.01 * (1 - epoch / epochs) ** 0.9,
                  "epoch_start_timestamps": 10.0 * epoch, "epoch_end_timestamps": 10.0 * epoch + 9.0}
        for key, value in values.items():
            logger.log(key, value, epoch)


def test_fences_drop_one_wild_loss_and_keep_ordinary_curves_whole() -> None:
    demo = np.array([0.3, 0.22, 0.14, 0.06, 207.0, -0.53, -0.56, -0.59])
    low, high = loss_limits(demo)
    assert high < 1.0 and low < -0.59 and high > 0.3  # every value but 207 inside
    smooth = np.linspace(1.2, 0.1, 20)
    low, high = loss_limits(smooth)
    assert low < 0.1 and high > 1.2


def test_later_epochs_fill_the_loss_axis_and_the_clip_is_said(tmp_path: Path) -> None:
    logger = ReadableProgressLogger()
    _log(logger, 12)
    with nnunet_global_style(tmp_path):
        figure = draw_progress(logger.my_fantastic_logging)
        assert text_problems(figure) == []
    loss_axes = figure.axes[0]
    low, high = loss_axes.get_ylim()
    later = np.array([-0.5 - 0.03 * e for e in range(1, 12)])
    assert (later.max() - later.min()) / (high - low) > 0.2  # nnU-Net's linear axis gives them 0.2 % of it
    assert "clipped, 1 point(s) off scale" in loss_axes.get_title()
    assert any(text.get_text() == "207" for text in loss_axes.texts)
    ordinary = ReadableProgressLogger()
    _log(ordinary, 12, first_val_loss=-0.45)
    assert "clipped" not in draw_progress(ordinary.my_fantastic_logging).axes[0].get_title()


def test_the_trainer_logger_keeps_its_values_and_writes_svsegs_plot(tmp_path: Path) -> None:
    meta = MetaLogger(str(tmp_path), resume=False)
    _log(meta, 3)
    before = meta.get_checkpoint()
    use_readable_progress_plot(meta)
    use_readable_progress_plot(meta)  # idempotent
    assert isinstance(meta.local_logger, ReadableProgressLogger) and meta.get_checkpoint() is before
    meta.plot_progress_png(str(tmp_path))
    with PILImage.open(tmp_path / "progress.png") as image:
        assert image.size == (880, 935)  # svseg's 8 x 8.5 in at 110 dpi, not nnU-Net's 30 x 54 in
    assert [p.name for p in tmp_path.iterdir()] == ["progress.png"]
