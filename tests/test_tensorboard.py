"""antorcha.utils.tensorboard.SummaryWriter against torch.utils.tensorboard.SummaryWriter: both write the
same calls, tensorboard's EventAccumulator reads both runs back, and the tags, steps and values must agree."""

from __future__ import annotations

import builtins
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import antorcha

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
torch = pytest.importorskip("torch")
torch_tensorboard = pytest.importorskip("torch.utils.tensorboard")

from antorcha.utils.tensorboard import SummaryWriter  # noqa: E402

EVERYTHING = {"tensors": 0, "scalars": 0, "histograms": 0, "images": 0}


def read(log_dir: Path) -> event_accumulator.EventAccumulator:
    accumulator = event_accumulator.EventAccumulator(str(log_dir), size_guidance=EVERYTHING)
    accumulator.Reload()
    return accumulator


def write_both(tmp_path: Path, calls) -> tuple:
    """Run `calls(writer, lib)` with antorcha's writer and torch's, and read both runs."""
    with SummaryWriter(str(tmp_path / "ours")) as ours:
        calls(ours, antorcha)
    with torch_tensorboard.SummaryWriter(str(tmp_path / "torch")) as theirs:
        calls(theirs, torch)
    return read(tmp_path / "ours"), read(tmp_path / "torch")


def test_scalars_match_torch_in_tags_steps_and_values(tmp_path: Path) -> None:
    def calls(writer, lib) -> None:
        for step in range(5):
            writer.add_scalar("loss/train", lib.tensor(1.0 / (step + 1)), step)
            writer.add_scalar("lr", 0.01 * step, global_step=step)
        writer.add_scalar("one-element", lib.tensor([[2.5]]), 7)

    ours, theirs = write_both(tmp_path, calls)
    assert sorted(ours.Tags()["scalars"]) == sorted(theirs.Tags()["scalars"])
    for tag in theirs.Tags()["scalars"]:
        ours_events, theirs_events = ours.Scalars(tag), theirs.Scalars(tag)
        assert [e.step for e in ours_events] == [e.step for e in theirs_events]
        np.testing.assert_allclose([e.value for e in ours_events], [e.value for e in theirs_events])
    assert [e.value for e in ours.Scalars("loss/train")] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])


def test_add_scalars_writes_one_run_per_key_as_torch(tmp_path: Path) -> None:
    def calls(writer, lib) -> None:
        for step in range(3):
            writer.add_scalars("loss", {"train": lib.tensor(float(step)), "val": 2.0 * step}, step)

    write_both(tmp_path, calls)
    for key, scale in (("train", 1.0), ("val", 2.0)):
        ours = read(tmp_path / "ours" / f"loss_{key}")
        theirs = read(tmp_path / "torch" / f"loss_{key}")
        assert ours.Tags()["scalars"] == theirs.Tags()["scalars"] == ["loss"]
        assert [(e.step, e.value) for e in ours.Scalars("loss")] == [(s, scale * s) for s in range(3)]
        assert [e.value for e in ours.Scalars("loss")] == [e.value for e in theirs.Scalars("loss")]


def test_histogram_buckets_match_torch(tmp_path: Path) -> None:
    values = np.random.default_rng(0).normal(size=1000).astype(np.float32)

    def calls(writer, lib) -> None:
        writer.add_histogram("weights", lib.tensor(values), 4)
        writer.add_histogram("auto-bins", lib.tensor(values), 5, bins="auto")

    ours, theirs = write_both(tmp_path, calls)
    assert sorted(ours.Tags()["histograms"]) == ["auto-bins", "weights"]
    for tag in ("weights", "auto-bins"):
        (mine,), (reference,) = ours.Histograms(tag), theirs.Histograms(tag)
        assert mine.step == reference.step
        for field in ("min", "max", "num", "sum", "sum_squares"):
            assert getattr(mine.histogram_value, field) == pytest.approx(
                getattr(reference.histogram_value, field), rel=1e-6
            )
        assert list(mine.histogram_value.bucket) == list(reference.histogram_value.bucket)
        assert list(mine.histogram_value.bucket_limit) == pytest.approx(
            list(reference.histogram_value.bucket_limit)
        )
    assert ours.Histograms("weights")[0].histogram_value.num == 1000


def test_text_is_read_back_under_torchs_tag(tmp_path: Path) -> None:
    def calls(writer, lib) -> None:
        writer.add_text("notes", "first **run**", 0)
        writer.add_text("notes", "second", 1)

    ours, theirs = write_both(tmp_path, calls)
    assert ours.Tags()["tensors"] == theirs.Tags()["tensors"] == ["notes/text_summary"]
    events = ours.Tensors("notes/text_summary")
    assert [e.step for e in events] == [0, 1]
    assert [e.tensor_proto.string_val[0].decode() for e in events] == ["first **run**", "second"]


@pytest.mark.parametrize(
    ("shape", "dataformats"), [((3, 8, 5), "CHW"), ((8, 5, 3), "HWC"), ((8, 5), "HW"), ((1, 8, 5), "CHW")]
)
def test_image_matches_torchs_png(tmp_path: Path, shape: tuple, dataformats: str) -> None:
    pixels = np.random.default_rng(1).random(shape).astype(np.float32)

    def calls(writer, lib) -> None:
        writer.add_image("picture", lib.tensor(pixels), 2, dataformats=dataformats)

    ours, theirs = write_both(tmp_path, calls)
    (mine,), (reference,) = ours.Images("picture"), theirs.Images("picture")
    assert (mine.step, mine.width, mine.height) == (reference.step, reference.width, reference.height)
    assert (mine.width, mine.height) == (5, 8)
    decoded = [_decode_png(event.encoded_image_string) for event in (mine, reference)]
    np.testing.assert_array_equal(decoded[0], decoded[1])


def _decode_png(data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))


def test_images_and_figures_match_torchs_pngs(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batch = np.random.default_rng(2).random((5, 3, 6, 4)).astype(np.float32)

    def calls(writer, lib) -> None:
        writer.add_images("batch", lib.tensor(batch), 1)
        figure, axes = plt.subplots(figsize=(2, 1.5), dpi=50)
        axes.plot([0, 1, 2], [2, 0, 1])
        writer.add_figure("figure", figure, 3)

    ours, theirs = write_both(tmp_path, calls)
    for tag in ("batch", "figure"):
        (mine,), (reference,) = ours.Images(tag), theirs.Images(tag)
        assert (mine.step, mine.width, mine.height) == (reference.step, reference.width, reference.height)
        mine_pixels, reference_pixels = (_decode_png(e.encoded_image_string) for e in (mine, reference))
        np.testing.assert_array_equal(mine_pixels, reference_pixels)
    assert ours.Images("figure")[0].width == 100


def test_purge_step_drops_a_stopped_runs_later_events_as_torchs_does(tmp_path: Path) -> None:
    for name, writer_class in (("ours", SummaryWriter), ("torch", torch_tensorboard.SummaryWriter)):
        with writer_class(str(tmp_path / name)) as first:
            for step in range(5):
                first.add_scalar("loss", float(step), step)
        with writer_class(str(tmp_path / name), purge_step=2, filename_suffix=".resumed") as resumed:
            for step in (2, 3):
                resumed.add_scalar("loss", 10.0 + step, step)
    ours, theirs = read(tmp_path / "ours"), read(tmp_path / "torch")
    expected = [(0, 0.0), (1, 1.0), (2, 12.0), (3, 13.0)]
    assert [(e.step, e.value) for e in ours.Scalars("loss")] == expected
    assert [(e.step, e.value) for e in theirs.Scalars("loss")] == expected


def test_a_closed_writer_reopens_on_the_next_add_as_torchs_does(tmp_path: Path) -> None:
    writer = SummaryWriter(str(tmp_path))
    writer.add_scalar("x", 1.0, 0)
    writer.close()
    writer.add_scalar("x", 2.0, 1)
    writer.close()
    assert [(e.step, e.value) for e in read(tmp_path).Scalars("x")] == [(0, 1.0), (1, 2.0)]


def test_event_files_are_named_as_torch_names_them(tmp_path: Path) -> None:
    with SummaryWriter(str(tmp_path / "ours"), filename_suffix=".v1") as ours:
        ours.add_scalar("x", 1.0)
    with torch_tensorboard.SummaryWriter(str(tmp_path / "torch"), filename_suffix=".v1") as theirs:
        theirs.add_scalar("x", 1.0)
    (mine,), (reference,) = os.listdir(tmp_path / "ours"), os.listdir(tmp_path / "torch")
    import re
    import socket

    name = rf"events\.out\.tfevents\.\d+\.{re.escape(socket.gethostname())}\.{os.getpid()}\.\d+\.v1"
    assert re.fullmatch(name, reference) and re.fullmatch(name, mine), (mine, reference)


def test_hparams_write_the_plugin_session_and_metrics(tmp_path: Path) -> None:
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_hparams(
            {"lr": 0.01, "batch": 32, "optimizer": "adam", "scaled": antorcha.tensor(0.5)},
            {"hparam/accuracy": antorcha.tensor(0.75), "hparam/loss": 0.25},
            run_name="trial",
        )
    accumulator = read(tmp_path / "trial")
    assert sorted(accumulator.Tags()["scalars"]) == ["hparam/accuracy", "hparam/loss"]
    assert accumulator.Scalars("hparam/accuracy")[0].value == pytest.approx(0.75)
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = accumulator.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = session.session_start_info.hparams
    assert hparams["lr"].number_value == pytest.approx(0.01)
    assert hparams["batch"].number_value == 32
    assert hparams["optimizer"].string_value == "adam"
    assert hparams["scaled"].number_value == 0.5
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    metric_tags = sorted(info.name.tag for info in experiment.experiment.metric_infos)
    assert metric_tags == ["hparam/accuracy", "hparam/loss"]


def test_hparams_and_scalars_reject_what_torch_rejects(tmp_path: Path) -> None:
    with SummaryWriter(str(tmp_path)) as writer:
        with pytest.raises(TypeError, match="dictionary"):
            writer.add_hparams([("lr", 0.1)], {"loss": 1.0})
        with pytest.raises(ValueError, match=r"\(3,\)"):
            writer.add_scalar("loss", antorcha.tensor([1.0, 2.0, 3.0]))


def test_flush_makes_events_readable_before_close(tmp_path: Path) -> None:
    writer = SummaryWriter(str(tmp_path), flush_secs=3600, max_queue=1000)
    writer.add_scalar("x", 1.0, 0)
    writer.flush()
    assert [e.value for e in read(tmp_path).Scalars("x")] == [1.0]
    writer.close()


def test_default_log_dir_is_torchs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with SummaryWriter(comment="_lr0.1") as writer:
        writer.add_scalar("x", 1.0)
    (run,) = os.listdir(tmp_path / "runs")
    assert writer.get_logdir() == os.path.join("runs", run)
    import socket

    assert run.endswith("_" + socket.gethostname() + "_lr0.1")
    assert any(name.startswith("events.out.tfevents.") for name in os.listdir(tmp_path / "runs" / run))


def _refuse_tensorboardx(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def refuse(name: str, *args, **kwargs):
        if name == "tensorboardX" or name.startswith("tensorboardX."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "tensorboardX", raising=False)
    monkeypatch.setattr(builtins, "__import__", refuse)


def test_without_tensorboardx_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _refuse_tensorboardx(monkeypatch)
    with pytest.raises(ImportError, match=r"pip install 'antorcha\[tensorboard\]'"):
        SummaryWriter("unused")


def test_lesson_tensorboard_logs_each_epochs_loss(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from antorcha.cli import main

    json_path = tmp_path / "run.json"
    argv = ["lesson", "--samples", "256", "--epochs", "3", "--device", "cpu"]
    assert main([*argv, "--json", str(json_path), "--tensorboard", str(tmp_path / "tb")]) == 0
    import json

    losses = json.loads(json_path.read_text())["runs"][0]["losses"]
    events = read(tmp_path / "tb" / "cpu").Scalars("loss/train")
    assert [e.step for e in events] == [1, 2, 3]
    np.testing.assert_allclose([e.value for e in events], losses, rtol=1e-6)


def test_digits_tensorboard_logs_losses_and_accuracy(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("sklearn")
    from antorcha.cli import main

    json_path = tmp_path / "run.json"
    argv = ["digits", "--epochs", "2", "--device", "cpu", "--json", str(json_path)]
    assert main([*argv, "--tensorboard", str(tmp_path / "tb")]) == 0
    import json

    report = json.loads(json_path.read_text())
    accumulator = read(tmp_path / "tb")
    steps = len(report["step_losses"])
    epoch_events = accumulator.Scalars("loss/train_epoch")
    assert [e.step for e in epoch_events] == [steps // 2, steps]
    np.testing.assert_allclose([e.value for e in epoch_events], report["epoch_losses"], rtol=1e-6)
    assert len(accumulator.Scalars("loss/train_step")) == steps
    (accuracy,) = accumulator.Scalars("accuracy/test")
    assert (accuracy.step, accuracy.value) == (steps, pytest.approx(report["accuracy"]))


def test_gpt_tensorboard_logs_train_val_loss_and_lr(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from antorcha.cli import main
    from antorcha.gpt.train import TrainConfig, lr_at

    tiny = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16", "--batch-size", "4"]
    run = ["--max-iters", "4", "--eval-interval", "2", "--eval-iters", "1", "--lr", "0.01"]
    json_path = tmp_path / "run.json"
    argv = ["gpt", *tiny, *run, "--sample-tokens", "3", "--device", "cpu", "--json", str(json_path)]
    assert main([*argv, "--tensorboard", str(tmp_path / "tb")]) == 0
    import json

    report = json.loads(json_path.read_text())
    accumulator = read(tmp_path / "tb")
    train = accumulator.Scalars("loss/train")
    assert [e.step for e in train] == [1, 2, 3, 4]  # the number of steps taken
    np.testing.assert_allclose([e.value for e in train], report["train_losses"], rtol=1e-6)
    val = accumulator.Scalars("loss/val")
    assert [e.step for e in val] == [entry["iter"] for entry in report["evals"]] == [0, 2, 4]
    np.testing.assert_allclose([e.value for e in val], [e["val"] for e in report["evals"]], rtol=1e-6)
    config = TrainConfig(**report["config"]["train"])
    assert (config.lr, config.max_iters) == (0.01, 4)
    expected_lr = [lr_at(step, config) for step in range(4)]
    np.testing.assert_allclose([e.value for e in accumulator.Scalars("lr")], expected_lr, rtol=1e-6)


@pytest.mark.parametrize("command", [["lesson", "--samples", "64", "--epochs", "1"], ["gpt"], ["digits"]])
def test_tensorboard_flag_without_tensorboardx_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, command: list
) -> None:
    from antorcha.cli import main

    _refuse_tensorboardx(monkeypatch)
    assert main([*command, "--tensorboard", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "--tensorboard needs tensorboardX: pip install 'antorcha[tensorboard]'" in error
    assert len(error.strip().splitlines()) == 1


def test_gpt_resume_purges_what_the_stopped_run_logged_past_its_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import itertools

    from antorcha.cli import main
    from antorcha.utils.tensorboard import _event_file

    # TensorBoard reads a folder's files in name order: <time>.<host>.<pid>.<n>; single-digit n keep the
    # three files of one second in the order they were written
    monkeypatch.setattr(_event_file, "_file_numbers", itertools.count())

    tiny = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16", "--batch-size", "4"]
    common = [*tiny, "--eval-interval", "2", "--eval-iters", "1", "--sample-tokens", "2", "--device", "cpu"]
    out, log_dir = str(tmp_path / "run"), str(tmp_path / "tb")
    assert main(["gpt", *common, "--max-iters", "3", "--out", out, "--tensorboard", log_dir]) == 0
    with SummaryWriter(log_dir, filename_suffix=".stopped") as stopped:  # steps taken after the checkpoint
        for step in (4, 5):
            stopped.add_scalar("loss/train", 99.0, step)
    resume = ["gpt", *common, "--max-iters", "6", "--out", out, "--resume", "--tensorboard", log_dir]
    assert main([*resume, "--json", str(tmp_path / "run.json")]) == 0
    import json

    report = json.loads((tmp_path / "run.json").read_text())
    accumulator = read(tmp_path / "tb")
    train = accumulator.Scalars("loss/train")
    assert [e.step for e in train] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([e.value for e in train], report["train_losses"], rtol=1e-6)
    assert [e.step for e in accumulator.Scalars("loss/val")] == [e["iter"] for e in report["evals"]]
    assert [e["iter"] for e in report["evals"]] == [0, 2, 3, 4, 6]
