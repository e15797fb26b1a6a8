"""`SummaryWriter` with torch.utils.tensorboard's API. The event-file format (protobuf records, CRCs,
histogram buckets, image PNGs, the hparams plugin) is tensorboardX's job; this module only turns antorcha
tensors into NumPy arrays, writes in the caller's thread (see _event_file.py) and keeps torch's names,
defaults and log-directory layout (add_scalars: one run per key in log_dir/<main_tag>_<key>; add_hparams:
a run in log_dir/<run_name>)."""

from __future__ import annotations

import functools
import os
import socket
import time
from datetime import datetime
from typing import Any

import numpy as np

from antorcha.utils.tensorboard._event_file import EventFile

INSTALL_HINT = "pip install 'antorcha[tensorboard]'"


def _tensorboardx() -> Any:
    try:
        import tensorboardX
    except ImportError as error:
        raise ImportError(
            f"antorcha.utils.tensorboard.SummaryWriter writes its event files with tensorboardX, which "
            f"is not installed: {INSTALL_HINT}"
        ) from error
    return tensorboardX


def tensorboard_unavailable(flag: str = "--tensorboard") -> str | None:
    """None when SummaryWriter can write events; else a one-line reason for a command's `flag`."""
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        return f"{flag} needs tensorboardX: {INSTALL_HINT}"
    return None


def default_log_dir(comment: str = "") -> str:
    """torch's default: runs/<Mon>DD_HH-MM-SS_<host><comment>."""
    current_time = datetime.now().strftime("%b%d_%H-%M-%S")
    return os.path.join("runs", current_time + "_" + socket.gethostname() + comment)


def to_numpy(value: Any) -> Any:
    """An antorcha (or any torch-like) tensor becomes a NumPy array; numbers and arrays pass through."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    return value


def _scalar(value: Any) -> float:
    array = np.asarray(to_numpy(value))
    if array.size != 1:
        raise ValueError(f"add_scalar expects a number or a one-element tensor, got shape {array.shape}")
    return float(array.reshape(()))


@functools.cache
def tensorflow_bins() -> tuple[float, ...]:
    """bins="tensorflow": TensorBoard's bucket edges, +-1e-12 growing by 1.1x up to 1e20, and 0."""
    edges = []
    edge = 1e-12
    while edge < 1e20:
        edges.append(edge)
        edge *= 1.1
    return (*(-e for e in reversed(edges)), 0.0, *edges)


def _hparam(value: Any) -> Any:
    """A one-element tensor becomes its number; bool, int, float and str stay as they are."""
    value = to_numpy(value)
    return value.item() if isinstance(value, np.ndarray) else value


class SummaryWriter:
    """Writes TensorBoard event files under `log_dir`, as torch.utils.tensorboard.SummaryWriter does."""

    def __init__(
        self,
        log_dir: str | None = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: int = 120,
        filename_suffix: str = "",
    ) -> None:
        self._summary = _tensorboardx().summary
        self.log_dir = log_dir or default_log_dir(comment)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self._files: dict[str, EventFile] = {}  # log_dir's own, then add_scalars' one per key
        self._main()

    def _open(self, log_dir: str) -> EventFile:
        return EventFile(log_dir, self.max_queue, self.flush_secs, self.filename_suffix)

    def _main(self) -> EventFile:
        """log_dir's event file; after close() the next add_* starts a new one, as torch's writer does."""
        if self.log_dir not in self._files:
            self._files[self.log_dir] = self._open(self.log_dir)
            if self.purge_step is not None:  # once: a reopened writer purges nothing more
                self._files[self.log_dir].mark_purge(self.purge_step)
                self.purge_step = None
        return self._files[self.log_dir]

    def get_logdir(self) -> str:
        return self.log_dir

    def add_scalar(
        self, tag: str, scalar_value: Any, global_step: int | None = None, walltime: float | None = None
    ) -> None:
        self._main().add_summary(self._summary.scalar(tag, _scalar(scalar_value)), global_step, walltime)

    def add_scalars(
        self,
        main_tag: str,
        tag_scalar_dict: dict[str, Any],
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """One run per key, in log_dir/<main_tag>_<key> (slashes in main_tag become _), as torch does."""
        walltime = time.time() if walltime is None else walltime
        for key, value in tag_scalar_dict.items():
            run_dir = os.path.join(self.log_dir, main_tag.replace("/", "_") + "_" + key)
            if run_dir not in self._files:
                self._files[run_dir] = self._open(run_dir)
            summary = self._summary.scalar(main_tag, _scalar(value))
            self._files[run_dir].add_summary(summary, global_step, walltime)

    def add_histogram(
        self,
        tag: str,
        values: Any,
        global_step: int | None = None,
        bins: str = "tensorflow",
        walltime: float | None = None,
        max_bins: int | None = None,
    ) -> None:
        array = np.asarray(to_numpy(values), dtype=np.float64)
        if bins == "tensorflow":
            bins = list(tensorflow_bins())
        self._main().add_summary(self._summary.histogram(tag, array, bins, max_bins), global_step, walltime)

    def add_text(
        self, tag: str, text_string: str, global_step: int | None = None, walltime: float | None = None
    ) -> None:
        self._main().add_summary(self._summary.text(tag, text_string), global_step, walltime)

    def add_image(
        self,
        tag: str,
        img_tensor: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        dataformats: str = "CHW",
    ) -> None:
        """Floats are taken in [0, 1] and uint8 in [0, 255], as torch takes them."""
        image = np.asarray(to_numpy(img_tensor))
        summary = self._summary.image(tag, image, dataformats=dataformats)
        self._main().add_summary(summary, global_step, walltime)

    def add_images(
        self,
        tag: str,
        img_tensor: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        dataformats: str = "NCHW",
    ) -> None:
        """A batch of images, tiled into one grid image as torch tiles them."""
        self.add_image(tag, img_tensor, global_step, walltime, dataformats)

    def add_figure(
        self,
        tag: str,
        figure: Any,
        global_step: int | None = None,
        close: bool = True,
        walltime: float | None = None,
    ) -> None:
        """A matplotlib figure (or a list of them, tiled) rendered to an image."""
        from tensorboardX.utils import figure_to_image

        dataformats = "NCHW" if isinstance(figure, list) else "CHW"
        self.add_image(tag, figure_to_image(figure, close), global_step, walltime, dataformats)

    def add_hparams(
        self,
        hparam_dict: dict[str, Any],
        metric_dict: dict[str, Any],
        hparam_domain_discrete: dict[str, list[Any]] | None = None,
        run_name: str | None = None,
        global_step: int | None = None,
    ) -> None:
        """The hparams session and its metrics go to log_dir/<run_name> (default: the time), as in torch."""
        if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        if hparam_domain_discrete is not None:
            raise NotImplementedError("add_hparams: hparam_domain_discrete is not supported (tensorboardX)")
        hparams = {key: _hparam(value) for key, value in hparam_dict.items()}
        metrics = {key: _scalar(value) for key, value in metric_dict.items()}
        run = self._open(os.path.join(self.log_dir, run_name or str(time.time())))
        for summary in self._summary.hparams(hparams, metrics):
            run.add_summary(summary)
        for key, value in metrics.items():
            run.add_summary(self._summary.scalar(key, value), global_step)
        run.close()

    def flush(self) -> None:
        for event_file in self._files.values():
            event_file.flush()

    def close(self) -> None:
        for event_file in self._files.values():
            event_file.close()
        self._files = {}

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
