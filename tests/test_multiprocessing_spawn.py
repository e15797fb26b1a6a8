"""antorcha.multiprocessing.spawn against torch's, on the DDP tutorials' pattern.

tests/distributed_scripts/spawn_cases.py runs every case on one library and prints JSON; both
libraries must give the same outcomes: the ranks' arguments, a DDP step's weights and an
all-reduce inside spawned processes (gloo), and the exceptions for a rank that raises or exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py", reason="spawn forms an MPI world only with the distributed extra")

SCRIPT = Path(__file__).parent / "distributed_scripts" / "spawn_cases.py"


def _run_cases(lib: str, folder: Path, port: str, *flags: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), lib, str(folder), port, *flags],
        capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    ours = _run_cases("antorcha", tmp_path_factory.mktemp("antorcha"), "29531")
    theirs = _run_cases("torch", tmp_path_factory.mktemp("torch"), "29532")
    return ours, theirs


def test_each_rank_runs_fn_with_its_index_and_the_args(outcomes: tuple[dict, dict]) -> None:
    ours, theirs = outcomes
    assert ours["ranks_and_args"] == theirs["ranks_and_args"]
    assert ours["ranks_and_args"]["written"] == {"rank0.json": 0, "rank1.json": 7, "rank2.json": 14}


def test_spawned_processes_form_one_world_for_ddp(outcomes: tuple[dict, dict]) -> None:
    for name, outcome in zip(("antorcha", "torch"), outcomes):
        assert "written" in outcome["ddp_step"], f"{name}'s DDP step failed: {outcome['ddp_step']}"
    ours, theirs = outcomes[0]["ddp_step"]["written"], outcomes[1]["ddp_step"]["written"]
    assert sorted(ours) == sorted(theirs) == ["rank0.json", "rank1.json"]
    for name in ours:
        assert ours[name]["all_reduced"] == theirs[name]["all_reduced"] == 3.0
        np.testing.assert_allclose(ours[name]["weight"], theirs[name]["weight"], rtol=1e-6, atol=1e-7)
    assert ours["rank0.json"]["weight"] == ours["rank1.json"]["weight"]  # the replicas agree exactly


@pytest.mark.parametrize("case", ["raises", "exits"])
def test_a_failing_rank_raises_as_torch(outcomes: tuple[dict, dict], case: str) -> None:
    ours, theirs = outcomes
    assert ours[case] == theirs[case]


def test_without_mpirun_the_standard_library_starts_them(outcomes: tuple[dict, dict], tmp_path: Path) -> None:
    fallback = _run_cases("antorcha", tmp_path, "29533", "--without-mpirun")
    theirs = outcomes[1]
    for case in ("ranks_and_args", "raises", "exits"):
        assert fallback[case] == theirs[case]
