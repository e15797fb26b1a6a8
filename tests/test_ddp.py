"""DistributedDataParallel over MPI: N ranks on 1/N of each batch end where one process ends.

Each launch starts `mpirun -n N` once on tests/_ddp_worker.py, which runs every case and writes
the figures rank 0 gathered as JSON; the tests here assert on them. Loopback only, 2 and 3
processes, BLAS held to one thread per process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from antorcha.distributed.run import wait_for_job

pytest.importorskip("mpi4py")

WORKER = Path(__file__).with_name("_ddp_worker.py")
TRAINING = ["mlp", "mlp_no_sync", "mlp_bucket_views", "gpt"]
ALL_CASES = [*TRAINING, "find_unused", "unused_without_finding", "broadcast"]
FLOAT32_TOLERANCE = 1e-4  # 50 Adam steps: rounding of the averaged gradient, amplified a little


def _mpirun() -> str:
    beside_python = Path(sys.executable).with_name("mpirun")
    found = str(beside_python) if beside_python.exists() else shutil.which("mpirun")
    if found is None:
        pytest.skip("mpirun not found (pip install 'antorcha[distributed]')")
    return found


def launch(world_size: int, cases: list[str], tmp_path: Path, backend: str = "mpi") -> dict[str, Any]:
    out = tmp_path / f"ddp_{world_size}.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["DDP_TEST_BACKEND"] = backend
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader")
    command = [
        _mpirun(),
        "-n",
        str(world_size),
        "--oversubscribe",
        sys.executable,
        str(WORKER),
        str(out),
        *cases,
    ]
    log = tmp_path / f"ddp_{world_size}.log"
    with open(log, "w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)
        # Open MPI's teardown can hang after its workers end: wait_for_job stops such an mpirun
        watchdog = threading.Timer(240, process.kill)  # and a job that hangs fails, never blocks
        watchdog.start()
        try:
            returncode = wait_for_job(process)
        finally:
            watchdog.cancel()
    assert returncode == 0, log.read_text()[-6000:]
    results = json.loads(out.read_text())
    assert results["world_size"] == world_size
    return results


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return launch(2, ALL_CASES, tmp_path_factory.mktemp("ddp2"))


@pytest.fixture(scope="module")
def three_ranks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return launch(3, [*TRAINING, "find_unused"], tmp_path_factory.mktemp("ddp3"))


def case(results: dict[str, Any], name: str) -> dict[str, Any]:
    result = results[name]
    assert "error" not in result, result.get("error")
    return result


@pytest.mark.parametrize("name", TRAINING)
@pytest.mark.parametrize("ranks", ["two_ranks", "three_ranks"])
def test_ranks_train_as_one_process_on_the_whole_batch(
    name: str, ranks: str, request: pytest.FixtureRequest
) -> None:
    result = case(request.getfixturevalue(ranks), name)
    assert result["difference"] < FLOAT32_TOLERANCE
    assert result["spread"] == 0.0  # every rank holds the very same parameters


def test_buckets_launch_during_backward(two_ranks: dict[str, Any]) -> None:
    gpt = case(two_ranks, "gpt")
    assert gpt["buckets"] >= 3
    # when the embedding's gradient (the last one backward completes) arrives, every bucket
    # but its own has started its all-reduce already
    assert gpt["launched_before_the_last_gradient"] == gpt["buckets"] - 1
    assert case(two_ranks, "mlp_bucket_views")["buckets"] == 3
    assert case(two_ranks, "mlp")["buckets"] == 1  # 4.4 KB: all in the first 1 MiB bucket


@pytest.mark.parametrize("ranks", ["two_ranks", "three_ranks"])
def test_find_unused_parameters(ranks: str, request: pytest.FixtureRequest) -> None:
    result = case(request.getfixturevalue(ranks), "find_unused")
    assert result["difference"] < 1e-5
    # used on no rank: grad stays None, as torch leaves it (checked with torch's gloo DDP)
    assert result["none"] == {"never": [True, True], "ignored": [True, True]}


def test_a_parameter_without_gradient_is_torch_error(two_ranks: dict[str, Any]) -> None:
    result = case(two_ranks, "unused_without_finding")
    assert result["raised"] == "RuntimeError"
    assert result["message"].startswith(
        "Expected to have finished reduction in the prior iteration before starting a new one."
    )
    # Branches registers used, sometimes, never, ignored: indices 4-7 got no gradient
    assert result["message"].endswith("Parameter indices which did not receive grad for rank 0: 4 5 6 7")


def test_broadcast_at_construction_and_state_dict(two_ranks: dict[str, Any]) -> None:
    result = case(two_ranks, "broadcast")
    assert result["spread"] == 0.0
    assert result["buffer_spread"] == 0.0  # rank 0's running_mean (0) everywhere
    assert result["running_var_after_forward"] == 1.0  # rank 0's value again after the forward
    assert result["state_dict_keys"] == ["module." + key for key in result["module_keys"]]
    assert result["module_is_wrapped"]


GPT_FLAGS = [
    "--max-iters",
    "6",
    "--eval-interval",
    "3",
    "--eval-iters",
    "2",
    "--n-layer",
    "1",
    "--n-embd",
    "16",
]
GPT_FLAGS += ["--n-head", "2", "--block-size", "16", "--batch-size", "6", "--sample-tokens", "12"]


def _launched(command: list[str], tmp_path: Path) -> str:
    """`antorcha run -n 2 antorcha ...`, through the launcher as a user types it."""
    antorcha = str(Path(sys.executable).with_name("antorcha"))
    if not Path(antorcha).exists():
        pytest.skip("the antorcha console script is not installed beside this Python")
    env = dict(
        os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1"
    )
    finished = subprocess.run(
        [antorcha, "run", "-n", "2", antorcha, *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return finished.stdout


def test_lesson_under_the_launcher(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from antorcha.cli import main

    flags = ["lesson", "--samples", "4000", "--epochs", "2", "--json", "run.json"]
    printed = _launched(flags, tmp_path)
    assert printed.count("device ") == 1  # rank 0 alone prints the table
    assert "processes         2 (data-parallel: each trained on 1/2 of every batch)" in printed
    launched = json.loads((tmp_path / "run.json").read_text())["runs"][0]["losses"]
    assert main([*flags[:-1], str(tmp_path / "alone.json")]) == 0
    assert "processes" not in capsys.readouterr().out  # one process: the table as it always was
    alone = json.loads((tmp_path / "alone.json").read_text())["runs"][0]["losses"]
    assert launched == pytest.approx(alone, rel=1e-5)


def test_gpt_under_the_launcher(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from antorcha.cli import main

    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 60)
    printed = _launched(["gpt", "--text", str(text), *GPT_FLAGS, "--json", "run.json"], tmp_path)
    assert printed.count("after 6 steps") == 1 and "data-parallel over 2 processes" in printed
    launched = json.loads((tmp_path / "run.json").read_text())
    assert main(["gpt", "--text", str(text), *GPT_FLAGS, "--json", str(tmp_path / "alone.json")]) == 0
    capsys.readouterr()
    alone = json.loads((tmp_path / "alone.json").read_text())
    assert launched["config"]["processes"] == 2 and alone["config"]["processes"] == 1
    assert launched["train_losses"] == pytest.approx(alone["train_losses"], rel=1e-4)
    assert [e["val"] for e in launched["evals"]] == pytest.approx(
        [e["val"] for e in alone["evals"]], rel=1e-4
    )


def test_ddp_on_cuda_over_nccl(tmp_path: Path) -> None:
    """One GPU, world size 1, backend nccl: the bucket buffers and their all-reduces on the device."""
    import antorcha

    if not antorcha.cuda.is_available():
        pytest.skip("no GPU here (the nccl path needs CuPy with NCCL and a GPU)")
    result = case(launch(1, ["cuda_mlp"], tmp_path, backend="nccl"), "cuda_mlp")
    assert result["difference"] < FLOAT32_TOLERANCE
    assert result["buckets"] == 3


ORACLE = Path(__file__).with_name("_ddp_torch_oracle.py")


@pytest.fixture(scope="module")
def torch_and_antorcha(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same DDP scenarios on torch (gloo) and antorcha (MPI), one process, in a subprocess."""
    out = tmp_path_factory.mktemp("oracle") / "oracle.json"
    env = dict(
        os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1"
    )
    finished = subprocess.run(
        [sys.executable, str(ORACLE), str(out)], env=env, capture_output=True, text=True, timeout=240
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    "scenario",
    ["find_unused_grads", "unused_error", "no_sync_accumulates", "structure", "no_parameters_error"],
)
def test_same_outcome_as_torch_ddp(scenario: str, torch_and_antorcha: dict[str, Any]) -> None:
    theirs, ours = torch_and_antorcha["torch"][scenario], torch_and_antorcha["antorcha"][scenario]
    assert "error" not in theirs, theirs.get("error")
    assert "error" not in ours, ours.get("error")
    assert_same(ours, theirs)


def assert_same(ours: Any, theirs: Any, where: str = "") -> None:
    """Equal structure, None where torch has None, equal strings; floats within float32 rounding."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and ours.keys() == theirs.keys(), where
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}/{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for index, (mine, expected) in enumerate(zip(ours, theirs)):
            assert_same(mine, expected, f"{where}[{index}]")
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-7), where
    else:
        assert ours == theirs, where


def test_single_process_wrappers_match_torch_keys() -> None:
    import torch

    import antorcha

    ours = antorcha.nn.parallel.DataParallel(antorcha.nn.Linear(2, 3))
    theirs = torch.nn.parallel.DataParallel(torch.nn.Linear(2, 3))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    x = antorcha.randn(4, 2)
    assert antorcha.equal(ours(x), ours.module(x))


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_world_shards_rows_as_array_split(size: int) -> None:
    import numpy as np

    from antorcha._world import World

    for total in (0, 1, 7, 12):
        rows = np.arange(10, 10 + total)
        expected = [part.tolist() for part in np.array_split(rows, size)]
        shares = [World(rank, size).shard(slice(10, 10 + total)) for rank in range(size)]
        assert [list(range(share.start, share.stop)) for share in shares] == expected


def test_one_process_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import antorcha
    from antorcha._world import SINGLE_PROCESS, join_world, launched_world_size

    for name in ("OMPI_COMM_WORLD_SIZE", "WORLD_SIZE", "PMI_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert launched_world_size() == 1 and join_world() is SINGLE_PROCESS
    model = antorcha.nn.Linear(2, 2)
    assert SINGLE_PROCESS.wrap(model) is model and SINGLE_PROCESS.mean(0.25) == 0.25
    assert SINGLE_PROCESS.shard(slice(0, 9)) == slice(0, 9)
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert launched_world_size() == 4
