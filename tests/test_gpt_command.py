"""`antorcha gpt`: trains, samples, checkpoints and resumes exactly; bad input is one line and exit 2."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import antorcha as torch
from antorcha.cli import main
from antorcha.gpt import GPT, GPTConfig
from antorcha.gpt import checkpoint as checkpoint_module
from antorcha.gpt import train as train_module
from antorcha.gpt.corpus import corpus_files, default_corpus

ROOT = Path(__file__).resolve().parents[1]
TEXT = "the quick brown fox jumps over the lazy dog.\n" * 60  # 2,700 characters, 29 distinct
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "16", "--batch-size", "8"]
TINY += ["--eval-iters", "2", "--device", "cpu", "--sample-tokens", "40"]


def _text(tmp_path: Path, text: str = TEXT, name: str = "input.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _gpt(*args: str) -> int:
    return main(["gpt", *TINY, *args])


def _report(path: Path) -> dict:
    return json.loads(path.read_text())


def test_trains_prints_baseline_val_loss_and_a_sample(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    report_path = tmp_path / "run.json"
    args = ["--text", str(_text(tmp_path)), "--max-iters", "60", "--eval-interval", "30", "--lr", "3e-3"]
    assert _gpt(*args, "--json", str(report_path)) == 0
    out = capsys.readouterr().out
    assert "unigram baseline" in out and "val loss" in out and "--- sample: 40 characters" in out
    report = _report(report_path)
    # the repetitive text is easy once order is learnt; the baseline only knows frequencies
    assert report["final"]["val"] < report["unigram_baseline"] - 0.5
    sample = report["sample"]
    assert len(sample) == 40 and set(sample) <= set(TEXT) and sample in out


def test_json_holds_config_losses_timings_and_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    report_path = tmp_path / "run.json"
    args = ["--text", str(_text(tmp_path)), "--max-iters", "6", "--eval-interval", "3"]
    assert _gpt(*args, "--json", str(report_path)) == 0
    report = _report(report_path)
    assert report["config"]["model"] == {
        "block_size": 16, "vocab_size": len(set(TEXT)), "n_layer": 1, "n_head": 2, "n_embd": 32,
        "dropout": 0.0, "bias": True, "attention": "sdpa",
    }  # fmt: skip
    assert report["config"]["train"]["max_iters"] == 6 and report["config"]["train"]["batch_size"] == 8
    assert report["data"] == {"vocab_size": len(set(TEXT)), "train_tokens": 2430, "val_tokens": 270}
    assert len(report["train_losses"]) == 6 and [e["iter"] for e in report["evals"]] == [0, 3, 6]
    assert report["tokens"] == 6 * 8 * 16
    timings = report["timings"]
    assert timings["train_seconds"] > 0 and timings["tokens_per_second"] > 0 and timings["total_seconds"] > 0
    # the baseline: -mean log p over val of the train split's add-one-smoothed frequencies
    vocabulary = sorted(set(TEXT))
    train, val = TEXT[:2430], TEXT[2430:]
    counts = Counter(train)
    total = len(train) + len(vocabulary)
    expected = -sum(math.log((counts[ch] + 1) / total) for ch in val) / len(val)
    assert report["unigram_baseline"] == pytest.approx(expected, rel=1e-12)
    # a fresh model predicts nearly uniformly: its first loss is about log(V)
    assert report["evals"][0]["val"] == pytest.approx(math.log(len(vocabulary)), rel=0.05)


def _interrupt_at(iteration: int, monkeypatch: pytest.MonkeyPatch) -> None:
    real_step = train_module._step

    def step(run, step_model, data, config, device, at):  # type: ignore[no-untyped-def]
        if at == iteration:
            raise KeyboardInterrupt
        return real_step(run, step_model, data, config, device, at)

    monkeypatch.setattr(train_module, "_step", step)


@pytest.mark.parametrize("stop", ["interrupted", "shorter run"])
def test_a_resumed_run_has_the_losses_of_a_run_that_never_stopped(
    stop: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    text = str(_text(tmp_path))
    common = ["--text", text, "--eval-interval", "4", "--dropout", "0.2", "--lr", "3e-3"]
    assert _gpt(*common, "--max-iters", "8", "--json", str(tmp_path / "straight.json")) == 0
    out = str(tmp_path / "run")
    if stop == "interrupted":
        with monkeypatch.context() as patch:
            _interrupt_at(6, patch)  # after the checkpoint of step 4
            assert _gpt(*common, "--max-iters", "8", "--out", out) == 130
        assert "--resume continues" in capsys.readouterr().err
    else:  # the same schedule, stopped at step 4; the resumed run is asked for 8
        assert _gpt(*common, "--max-iters", "4", "--lr-decay-iters", "8", "--out", out) == 0
    resumed_args = ["--resume", "--out", out, "--max-iters", "8", "--json", str(tmp_path / "resumed.json")]
    assert main(["gpt", "--device", "cpu", "--sample-tokens", "40", *resumed_args]) == 0
    assert "resuming at step 4" in capsys.readouterr().out
    straight, resumed = _report(tmp_path / "straight.json"), _report(tmp_path / "resumed.json")
    assert len(straight["train_losses"]) == 8
    assert resumed["train_losses"] == straight["train_losses"]  # exactly: batches and dropout restored
    assert resumed["evals"] == straight["evals"]
    assert resumed["sample"] == straight["sample"]


def test_sample_only_samples_the_checkpoint_without_training(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = str(tmp_path / "run")
    args = ["--text", str(_text(tmp_path)), "--max-iters", "6", "--eval-interval", "3", "--out", out]
    assert _gpt(*args, "--json", str(tmp_path / "run.json")) == 0
    capsys.readouterr()
    sample_args = ["gpt", "--sample-only", "--out", out, "--sample-tokens", "40"]
    sample_args += ["--json", str(tmp_path / "s.json")]
    assert main(sample_args) == 0
    printed = capsys.readouterr().out
    assert "trained 6 steps" in printed and "step " not in printed  # no training, no evaluation
    # the checkpoint of the last step, sampled with the run's seed: the run's own sample
    assert _report(tmp_path / "s.json")["sample"] == _report(tmp_path / "run.json")["sample"]
    assert main([*sample_args, "--temperature", "0", "--seed", "5"]) == 0
    greedy = _report(tmp_path / "s.json")["sample"]
    assert main([*sample_args, "--temperature", "0", "--seed", "6"]) == 0
    assert _report(tmp_path / "s.json")["sample"] == greedy  # greedy decoding needs no random numbers


def _recorded_lengths(model: GPT) -> list[int]:
    lengths = []
    forward = model.forward

    def recording(idx, *args, **kwargs):  # type: ignore[no-untyped-def]
        lengths.append(idx.size(1))
        return forward(idx, *args, **kwargs)

    model.forward = recording
    return lengths


@pytest.mark.parametrize("attention", ["sdpa", "written"])
@pytest.mark.parametrize(("temperature", "top_k"), [(0.0, None), (1.0, None), (0.8, 5)])
def test_kv_cache_generation_equals_uncached_past_block_size(
    attention: str, temperature: float, top_k: int | None
) -> None:
    torch.manual_seed(3)
    config = GPTConfig(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=16, attention=attention)
    model = GPT(config).eval()
    for p in model.parameters():  # larger weights than GPT's init, so the tokens depend on the context
        p.data.mul_(5.0)
    prompt = torch.randint(0, 11, (2, 3), generator=torch.Generator().manual_seed(4))  # (B, T)
    tokens = {}
    for use_cache in (True, False):
        lengths = _recorded_lengths(model)
        generator = torch.Generator().manual_seed(7)
        out = model.generate(prompt, 14, temperature, top_k, use_cache=use_cache, generator=generator)
        tokens[use_cache] = out.tolist()
        del model.forward
        if use_cache:  # the prompt once, then one position per token until the window slides
            assert lengths[:6] == [3, 1, 1, 1, 1, 1] and lengths[6:] == [8] * 8
        else:
            assert lengths == [min(n, 8) for n in range(3, 17)]
    assert tokens[True] == tokens[False]
    assert len(tokens[True][0]) == 17 and len(set(tokens[True][0])) > 2


def test_checkpoint_write_is_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    args = ["--text", str(_text(tmp_path)), "--max-iters", "3", "--eval-interval", "3", "--out", str(out)]
    assert _gpt(*args) == 0
    path = out / "ckpt.pt"
    before = path.read_bytes()

    def half_then_fail(obj, handle):  # type: ignore[no-untyped-def]
        handle.write(before[: len(before) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", half_then_fail)
    with pytest.raises(OSError):
        checkpoint_module.save_checkpoint(path, {"anything": 1})
    assert path.read_bytes() == before and os.listdir(out) == ["ckpt.pt"]  # no temporary left behind
    capsys.readouterr()
    assert main(["gpt", "--resume", "--out", str(out), "--max-iters", "6", "--device", "cpu"]) == 2
    err = capsys.readouterr().err  # the progress bar's lines, then the error's one
    assert "Traceback" not in err and err.endswith(
        f"cannot write the checkpoint {path}: No space left on device\n"
    )
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(out) == ["ckpt.pt"]
    assert torch.load(path)["iteration"] == 3


def test_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "losses.png"
    args = ["--text", str(_text(tmp_path)), "--max-iters", "4", "--eval-interval", "2"]
    assert _gpt(*args, "--plot", str(target)) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    assert _gpt("--text", str(_text(tmp_path)), "--plot", str(tmp_path / "x.png")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "matplotlib" in err[0]


def _trained(tmp_path: Path) -> str:
    out = str(tmp_path / "trained")
    args = ["--text", str(_text(tmp_path, TEXT, "trained.txt")), "--max-iters", "2", "--eval-interval", "2"]
    assert _gpt(*args, "--out", out, "--sample-tokens", "0") == 0
    return out


def _misfit(tmp_path: Path) -> str:
    """A checkpoint whose model_args say n_embd 64 while its weights are 32 wide."""
    out = _trained(tmp_path)
    checkpoint = torch.load(Path(out) / "ckpt.pt")
    checkpoint["model_args"]["n_embd"] = 64
    torch.save(checkpoint, Path(out) / "ckpt.pt")
    return out


def _damaged(tmp_path: Path) -> str:
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "ckpt.pt").write_bytes(b"not a checkpoint at all")
    return str(tmp_path / "damaged")


def _latin1(tmp_path: Path) -> str:
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1") * 50)
    return str(tmp_path / "latin1.txt")


def _empty_dir(tmp_path: Path) -> str:
    (tmp_path / "empty_dir").mkdir()
    return str(tmp_path / "empty_dir")


# each case: (the flags after `gpt --block-size 16`, made in tmp_path; a fragment of the one error line)
BAD_INPUTS: dict[str, Callable[[Path], tuple[list[str], str]]] = {
    "missing file": lambda tmp: (["--text", str(tmp / "nope.txt")], "no such file"),
    "empty file": lambda tmp: (["--text", str(_text(tmp, ""))], "the file is empty"),
    "a directory": lambda tmp: (["--text", str(tmp)], "is a directory"),
    "not UTF-8": lambda tmp: (["--text", _latin1(tmp)], "not UTF-8 text (byte 0xe9 at offset 3)"),
    "text too short": lambda tmp: (
        ["--text", str(_text(tmp, "short text\n"))],
        "too short for --block-size 16",
    ),
    "n_embd % n_head": lambda tmp: (
        ["--text", str(_text(tmp)), "--n-embd", "30", "--n-head", "4"],
        "divisible",
    ),
    "resume, no checkpoint": lambda tmp: (["--resume", "--out", _empty_dir(tmp)], "no checkpoint"),
    "sample-only, no checkpoint": lambda tmp: (["--sample-only", "--out", _empty_dir(tmp)], "no checkpoint"),
    "resume without --out": lambda tmp: (["--resume"], "--resume needs --out"),
    "damaged checkpoint": lambda tmp: (["--sample-only", "--out", _damaged(tmp)], "cannot load"),
    "another shape": lambda tmp: (["--resume", "--out", _trained(tmp), "--n-embd", "64"], "n_embd=32"),
    "another vocabulary": lambda tmp: (
        ["--resume", "--out", _trained(tmp), "--text", str(_text(tmp, "xyz!" * 300))],
        "another vocabulary",
    ),
    "weights misfit": lambda tmp: (["--sample-only", "--out", _misfit(tmp)], "does not fit its own model"),
    "unknown device": lambda tmp: (["--text", str(_text(tmp)), "--device", "tpu"], "unknown device"),
    "bad flag value": lambda tmp: (["--n-head", "0"], "expected an integer > 0"),
    "dropout out of range": lambda tmp: (["--dropout", "1.5"], "< 1.0"),
    "both modes": lambda tmp: (["--resume", "--sample-only", "--out", "x"], "not allowed with"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(case: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args, fragment = BAD_INPUTS[case](tmp_path)
    capsys.readouterr()
    try:
        code = main(["gpt", "--block-size", "16", *args])
    except SystemExit as exit_:  # argparse's errors leave through SystemExit
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert err[0].startswith("antorcha gpt: error:")


def test_cuda_without_a_gpu_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --device cuda is valid here")
    assert main(["gpt", "--text", str(_text(tmp_path)), "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CUDA is not available" in err[0]


def test_bad_file_from_the_shell_has_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "antorcha", "gpt", "--text", str(tmp_path / "missing.txt")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    expected = f"antorcha gpt: error: --text {tmp_path / 'missing.txt'}: no such file"
    assert result.stderr.strip().splitlines() == [expected]


def test_default_corpus_is_antorchas_own_source_in_sorted_order() -> None:
    files = corpus_files()
    sources = [f for f in files if f.suffix == ".py"]
    assert sources == sorted(sources, key=lambda f: f.relative_to(ROOT / "antorcha").as_posix())
    assert ROOT / "antorcha" / "gpt" / "model.py" in files
    text = default_corpus()
    assert text == default_corpus() and "# file: antorcha/gpt/model.py\n" in text
    assert "class GPT(nn.Module):" in text
    if (ROOT / "README.md").is_file():
        assert files[0] == ROOT / "README.md" and text.startswith("# file: README.md\n")


def test_compile_trains_the_losses_of_eager(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--text", str(_text(tmp_path)), "--max-iters", "6", "--eval-interval", "3"]
    losses = {}
    for flags in ([], ["--compile"]):
        report_path = tmp_path / f"run{len(flags)}.json"
        assert _gpt(*args, *flags, "--json", str(report_path)) == 0
        losses[bool(flags)] = _report(report_path)["train_losses"]
    assert "compiled" in capsys.readouterr().out
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)
