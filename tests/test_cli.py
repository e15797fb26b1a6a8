"""The `antorcha lesson` command and the lesson example, run as a learner runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from antorcha.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "antorcha", *args], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def test_lesson_trains_and_reports_a_table(tmp_path: Path) -> None:
    out_json = tmp_path / "lesson.json"
    result = _run("lesson", "--samples", "4000", "--epochs", "30", "--json", str(out_json))
    assert result.returncode == 0, result.stderr
    assert "s/epoch" in result.stdout and "samples/s" in result.stdout and "final loss" in result.stdout
    report = json.loads(out_json.read_text())
    (cpu,) = [r for r in report["runs"] if r["device"] == "cpu"]
    losses = cpu["losses"]
    assert len(losses) == 30
    assert losses[-1] < 0.5 * losses[0]  # the learnable target makes the loss fall
    assert cpu["seconds_per_epoch"] > 0 and cpu["samples_per_second"] > 0


@pytest.mark.parametrize("optimizer", ["adam", "adamax", "adamw", "adamz", "sgd"])
def test_every_optimizer_runs_in_process(
    optimizer: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out_json = tmp_path / "run.json"
    code = main(
        [
            "lesson",
            "--samples",
            "512",
            "--epochs",
            "5",
            "--batch-size",
            "128",
            "--optimizer",
            optimizer,
            "--device",
            "cpu",
            "--json",
            str(out_json),
        ]
    )
    assert code == 0
    runs = json.loads(out_json.read_text())["runs"]
    assert runs[0]["losses"][-1] < runs[0]["losses"][0]


def test_compile_flag_trains_the_same_losses_as_eager(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    losses = {}
    for flags in ([], ["--compile"]):
        out_json = tmp_path / f"run{len(flags)}.json"
        args = ["lesson", "--samples", "3000", "--epochs", "8", "--device", "cpu", "--json", str(out_json)]
        assert main(args + flags) == 0
        losses[bool(flags)] = json.loads(out_json.read_text())["runs"][0]["losses"]
    assert "compiled" in capsys.readouterr().out
    # one float32 step differs by rounding only; eight Adam steps keep that within 1e-4
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--samples", "-5"], "positive int"),
        (["--epochs", "0"], "positive int"),
        (["--optimizer", "adamq"], "invalid choice"),
        (["--device", "tpu"], "unknown device"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    result = _run("lesson", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]


def test_cuda_without_gpu_is_a_clear_error() -> None:
    import antorcha

    if antorcha.cuda.is_available():
        pytest.skip("a GPU is present: --device cuda is valid here")
    result = _run("lesson", "--device", "cuda", "--samples", "100")
    assert result.returncode == 2
    assert "CUDA is not available" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "lesson.png"
    assert main(["lesson", "--samples", "256", "--epochs", "3", "--plot", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lesson_example_runs_unchanged_and_loss_falls() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "lesson_mlp.py"), "--samples", "2000", "--epochs", "40"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    losses = [float(line.split("loss")[1]) for line in result.stdout.splitlines() if line.startswith("epoch")]
    assert len(losses) == 40
    assert losses[-1] < 0.5 * losses[0]


def test_plot_without_matplotlib_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    assert main(["lesson", "--samples", "64", "--epochs", "1", "--plot", "out.png"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "matplotlib" in err[0]
