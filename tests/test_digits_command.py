"""`antorcha digits` end to end, in process: accuracy, the confusion matrix, --json, --plot, and the
one-line errors (missing scikit-learn or matplotlib, bad flags)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import antorcha
from antorcha.cli import main

EPOCHS = 2


def _main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's errors
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One short training run with every report on, shared by the tests below."""
    folder = tmp_path_factory.mktemp("digits")
    report, picture = folder / "run.json", folder / "run.png"
    code, out, err = _main(
        "digits", "--epochs", str(EPOCHS), "--device", "cpu", "--json", str(report), "--plot", str(picture)
    )
    return {"code": code, "out": out, "err": err, "json": report, "png": picture}


def _torch_test_class_counts(seed: int = 0) -> np.ndarray:
    """The test split's digit counts, from torch's own random_split of the 1,797 images (the oracle)."""
    targets = load_digits().target
    test_size = len(targets) // 5
    _, test = torch.utils.data.random_split(
        range(len(targets)),
        [len(targets) - test_size, test_size],
        generator=torch.Generator().manual_seed(seed),
    )
    return np.bincount(targets[list(test.indices)], minlength=10)


def _printed_confusion(out: str) -> np.ndarray:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("true\\pred"))
    assert lines[start].split()[1:] == [str(d) for d in range(10)]
    rows = [line.split() for line in lines[start + 1 : start + 11]]
    assert [row[0] for row in rows] == [str(d) for d in range(10)]
    return np.array([[int(count) for count in row[1:]] for row in rows])


def test_prints_accuracy_and_a_confusion_matrix_of_the_test_split(trained: dict) -> None:
    assert trained["code"] == 0, trained["err"]
    accuracy = re.search(r"test accuracy: ([\d.]+)%", trained["out"])
    assert accuracy is not None, trained["out"]
    confusion = _printed_confusion(trained["out"])
    np.testing.assert_array_equal(confusion.sum(axis=1), _torch_test_class_counts())
    assert float(accuracy.group(1)) == pytest.approx(100 * np.trace(confusion) / confusion.sum(), abs=0.005)
    assert float(accuracy.group(1)) > 80  # two epochs already learn most digits


def test_json_holds_the_run(trained: dict) -> None:
    report = json.loads(trained["json"].read_text())
    assert report["config"] == {"epochs": EPOCHS, "batch_size": 32, "lr": 0.005, "seed": 0, "device": "cpu"}
    assert (report["train_size"], report["test_size"]) == (1438, 359)
    confusion = np.array(report["confusion_matrix"])
    np.testing.assert_array_equal(confusion, _printed_confusion(trained["out"]))
    assert report["test_class_counts"] == _torch_test_class_counts().tolist()
    assert report["accuracy"] == pytest.approx(np.trace(confusion) / 359)
    assert len(report["epoch_losses"]) == EPOCHS
    assert len(report["step_losses"]) == EPOCHS * -(-1438 // 32)
    assert report["epoch_losses"][-1] < report["epoch_losses"][0]
    wrong = report["misclassified"]
    assert len(wrong) == 359 - np.trace(confusion)
    assert all(item["label"] != item["predicted"] for item in wrong)


def test_plot_writes_a_png(trained: dict) -> None:
    assert trained["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {trained['png']}" in trained["out"]


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_missing_scikit_learn_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn...` now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    code, out, err = _main("digits", "--epochs", "1")
    assert code == 2 and out == ""
    assert "pip install 'antorcha[digits]'" in _one_line(err)


def test_plot_without_matplotlib_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = _main("digits", "--epochs", "1", "--plot", str(tmp_path / "x.png"))
    assert code == 2 and out == ""
    assert "matplotlib" in _one_line(err)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--epochs", "0"], "positive int"),
        (["--epochs", "two"], "positive int"),
        (["--batch-size", "-3"], "positive int"),
        (["--lr", "0"], "positive float"),
        (["--seed", "x"], "invalid int"),
        (["--device", "tpu"], "unknown device"),
        (["--json", "/no/such/folder/run.json"], "directory does not exist"),
        (["--plot", "/no/such/folder/run.png"], "directory does not exist"),
        (["--frobnicate"], "unrecognized arguments"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    code, out, err = _main("digits", *args)
    assert code == 2 and out == ""
    assert fragment in _one_line(err)


def test_cuda_without_a_gpu_is_one_line_and_exit_2() -> None:
    if antorcha.cuda.is_available():
        pytest.skip("a GPU is present: --device cuda is valid here")
    code, _, err = _main("digits", "--device", "cuda")
    assert code == 2 and "CUDA is not available" in _one_line(err)
