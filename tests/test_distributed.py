"""antorcha.distributed: every collective, op and dtype in 2 and 3 processes, groups, objects, faults.

The processes are started by the tests (the two launchers over mpirun, on this machine only). One
launch per world size runs every case of tests/distributed_scripts/collectives.py, which checks each
against the same computation in one process and reports per case and rank; the tests here assert
those reports. What needs no MPI (errors before init, the safe object encoding) runs in-process.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import antorcha as torch
import antorcha.distributed as dist
from antorcha.distributed import _objects

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.skipif(
        not dist.is_available(), reason="mpi4py is not installed (pip install 'antorcha[distributed]')"
    ),
]

SCRIPTS = Path(__file__).parent / "distributed_scripts"
_LAUNCH_LIMIT = 180  # seconds for one launch on a loaded machine; a hang fails the test instead


def _load_cases() -> list[str]:
    spec = importlib.util.spec_from_file_location("distributed_collectives", SCRIPTS / "collectives.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines the cases; MPI starts only in its main()
    return list(module.CASES)


CASES = _load_cases() if dist.is_available() else []


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent.parent), env.get("PYTHONPATH", "")])
    return env


def _launch(command: list[str], limit: float = _LAUNCH_LIMIT) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=limit, env=_environment())


@functools.cache
def _results(size: int, tmp_root: str) -> dict[int, dict[str, str]]:
    """Every case once in `size` processes: 2 via the torchrun-style launcher, 3 via `antorcha run`."""
    out_dir = Path(tmp_root) / f"world{size}"
    out_dir.mkdir(parents=True, exist_ok=True)
    script = str(SCRIPTS / "collectives.py")
    if size == 2:
        command = [
            sys.executable,
            "-m",
            "antorcha.distributed.run",
            "--nproc-per-node",
            "2",
            script,
            str(out_dir),
        ]
    else:
        command = [sys.executable, "-m", "antorcha", "run", "-n", str(size), script, str(out_dir), "gloo"]
    done = _launch(command)
    assert done.returncode == 0, (
        f"the launch failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return {rank: json.loads((out_dir / f"rank{rank}.json").read_text()) for rank in range(size)}


@pytest.fixture(scope="module")
def launch_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("distributed"))


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("case", CASES)
def test_collective_case(size: int, case: str, launch_dir: str) -> None:
    results = _results(size, launch_dir)
    for rank in range(size):
        outcome = results[rank].get(case, "the case did not run")
        assert outcome == "ok", f"rank {rank} of {size}:\n{outcome}"


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("raise", ("rank 1 raised ValueError; aborting every rank",)),
        ("kill", ("signal 9",)),
        ("late", ("did not complete within the timeout of 3 s",)),
        ("raise_before_init", ("rank 1 fails on purpose before init_process_group",)),
        # mpirun notices the early exit, or rank 0's MPI_Init watchdog fires (whichever comes first)
        ("exit_before_init", ("exiting\nimproperly", "Timeout (0:00:03)!")),
    ],
)
def test_a_failing_rank_ends_the_job_within_the_timeout(mode: str, says: tuple[str, ...]) -> None:
    started = time.monotonic()
    done = _launch(
        [
            sys.executable,
            "-m",
            "antorcha.distributed.run",
            "--nproc-per-node",
            "2",
            str(SCRIPTS / "faults.py"),
            mode,
        ],
        limit=120,
    )
    elapsed = time.monotonic() - started
    assert done.returncode != 0
    assert "which it must not" not in done.stdout
    assert any(text in done.stderr for text in says), done.stderr[-3000:]
    assert elapsed < 60, f"the job took {elapsed:.1f} s to end (timeout 3 s)"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _torch_gloo_results(size: int, out: Path) -> dict[str, str]:
    """The parity cases in a torch gloo world of `size` processes (TCP on 127.0.0.1)."""
    script, port = str(SCRIPTS / "torch_parity.py"), str(_free_port())
    ranks = [
        subprocess.Popen(
            [sys.executable, script, "torch", str(r), str(size), port, str(out)],
            env=_environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(size)
    ]
    for rank in ranks:
        _, errors = rank.communicate(timeout=_LAUNCH_LIMIT)
        assert rank.returncode == 0, errors[-3000:]
    return json.loads(out.read_text())


def _as_values(hex_bytes: str, name: str) -> np.ndarray:
    kind = np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)
    return np.frombuffer(bytes.fromhex(hex_bytes), dtype=kind).astype(np.float64)


_ULPS = {"float16": 4e-3, "bfloat16": 3e-2, "float32": 1e-6, "float64": 1e-15}


@pytest.mark.parametrize("size", [2])  # [2, 3] passes too (about 15 s more); 2 keeps the file fast
def test_the_collectives_give_torch_gloos_numbers(size: int, tmp_path: Path) -> None:
    """Bit for bit in 2 processes (but for NaN payloads and gloo's bool bytes). In 3, reductions
    differ by the order of the additions: gloo's chunked ring starts each chunk at a different rank,
    antorcha adds in rank order (float16/bfloat16 in float32, rounded once), so floats agree to a
    few units in the last place."""
    theirs = _torch_gloo_results(size, tmp_path / "torch.json")
    parity = [str(SCRIPTS / "torch_parity.py"), "antorcha", str(tmp_path / "antorcha.json")]
    done = _launch([sys.executable, "-m", "antorcha.distributed.run", "--nproc-per-node", str(size), *parity])
    assert done.returncode == 0, done.stderr[-3000:]
    ours = json.loads((tmp_path / "antorcha.json").read_text())
    assert ours.keys() == theirs.keys()
    differing = []
    for key, expected in theirs.items():
        actual, name = ours[key], key.split()[-1]
        if expected.endswith("Error") or actual.endswith("Error"):
            same = actual == expected  # the same exception class
        elif name == "bool":  # gloo sums bools as bytes (True stored as 2 or 3); antorcha stores 1
            same = np.array_equal(_as_values(actual, "uint8") != 0, _as_values(expected, "uint8") != 0)
        elif name not in _ULPS:
            same = actual == expected
        else:  # NaN payloads may differ; the order of additions matters only from 3 ranks on
            a, b = _as_values(actual, name), _as_values(expected, name)
            exact = size == 2 or key.startswith(("broadcast", "all_gather"))
            scale = np.max(np.abs(b[np.isfinite(b)]), initial=0.0)  # rounding grows with the operands
            tolerance = 0.0 if exact else _ULPS[name]
            same = np.allclose(a, b, rtol=tolerance, atol=tolerance * scale, equal_nan=True)
        if not same:
            differing.append(f"{key}: antorcha {actual[:40]} torch {expected[:40]}")
    assert not differing, "\n".join(differing)


def test_plain_mpirun_without_torchrun_variables() -> None:
    from antorcha.distributed.run import find_mpirun, mpirun_environment

    env = {
        k: v for k, v in mpirun_environment(3, "127.0.0.1", 29500).items() if k not in ("RANK", "WORLD_SIZE")
    }
    command = [find_mpirun(), "-n", "3", "--oversubscribe", "--mca", "btl", "self,vader", sys.executable]
    done = subprocess.run(
        [*command, str(SCRIPTS / "singleton.py"), "plain"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"sum": 3.0, "size": 3}


def test_a_singleton_is_a_world_of_one_and_refuses_more() -> None:
    alone = _launch([sys.executable, str(SCRIPTS / "singleton.py"), "alone"], limit=120)
    assert alone.returncode == 0, alone.stderr
    assert json.loads(alone.stdout.splitlines()[-1]) == {
        "values": [1.0, 2.0],
        "rank": 0,
        "size": 1,
        "out": [{"x": 1}],
    }
    joined = _launch([sys.executable, str(SCRIPTS / "singleton.py"), "joined"], limit=120)
    message = json.loads(joined.stdout.splitlines()[-1])["error"]
    assert "world_size=2" in message and "antorcha.distributed.run" in message


# ---- without MPI: errors before init_process_group, the launcher's arguments, the object encoding ----


def test_calls_before_init_raise_torchs_error() -> None:
    message = "Default process group has not been initialized, please make sure to call init_process_group."
    assert not dist.is_initialized()
    for call in (
        dist.get_rank,
        dist.get_world_size,
        lambda: dist.all_reduce(torch.ones(2)),
        lambda: dist.broadcast(torch.ones(2), src=0),
        lambda: dist.new_group([0]),
        lambda: dist.barrier(),
    ):
        with pytest.raises(ValueError) as caught:
            call()
        assert str(caught.value) == message
    with pytest.raises(ValueError, match="Invalid process group specified"):
        dist.destroy_process_group()


def test_backend_names() -> None:
    assert dist.Backend("GLOO") == "gloo" and dist.Backend.MPI == "mpi"
    assert dist.Backend("cpu:gloo,cuda:nccl") == "nccl" and dist.Backend("cpu:gloo") == "gloo"
    with pytest.raises(ValueError, match="Invalid device:backend pairing"):
        dist.Backend("tpu:gloo")
    with pytest.raises(ValueError, match="Invalid backend: 'ucc'"):
        dist.init_process_group("ucc")


@pytest.mark.skipif(dist.is_nccl_available(), reason="CuPy's NCCL is present: the refusal cannot be shown")
def test_nccl_without_cupy_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="Distributed package doesn't have NCCL built in"):
        dist.init_process_group("nccl")


def test_every_function_takes_torchs_parameter_names_and_defaults() -> None:
    import inspect

    import torch.distributed as real

    compared = 0
    for name in dist.__all__:
        ours, theirs = getattr(dist, name), getattr(real, name, None)
        if not inspect.isfunction(ours) or theirs is None:
            continue
        mine = [(p.name, repr(p.default)) for p in inspect.signature(ours).parameters.values()]
        torch_params = inspect.signature(theirs).parameters.values()
        expected = [(p.name, repr(p.default)) for p in torch_params if not p.name.startswith("_")]
        expected = [(n, "<RedOpType.SUM: 0>" if "RedOpType.SUM" in d else d) for n, d in expected]
        assert mine == expected, name
        compared += 1
    assert compared >= 30


def test_reduce_op_has_torchs_members() -> None:
    import torch as real_torch

    for name in ("SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"):
        assert int(getattr(dist.ReduceOp, name)) == int(getattr(real_torch.distributed.ReduceOp, name))


def test_the_launcher_refuses_several_nodes() -> None:
    from antorcha.distributed.run import main

    with pytest.raises(SystemExit) as caught:
        main(["--nnodes", "2", "--nproc-per-node", "2", "script.py"])
    assert caught.value.code == 2


def test_antorcha_run_refuses_a_bad_count(capsys: pytest.CaptureFixture[str]) -> None:
    from antorcha.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["run", "-n", "0", "script.py"])
    assert caught.value.code == 2
    assert "expected a positive int, got '0'" in capsys.readouterr().err


def test_the_launcher_command_stays_on_shared_memory() -> None:
    from antorcha.distributed.run import mpirun_command, mpirun_environment

    env = mpirun_environment(2, "127.0.0.1", 29500)
    command = mpirun_command(2, ["script.py", "--flag"], env)
    assert command[1:3] == ["-n", "2"] and "--oversubscribe" in command
    assert command[command.index("btl") + 1] == "self,vader"
    assert command[-3:] == ["antorcha.distributed._worker", "script.py", "--flag"]
    assert env["OMP_NUM_THREADS"] == os.environ.get("OMP_NUM_THREADS", "1")


ROUND_TRIP = [
    None,
    True,
    -(2**80),
    3.25,
    float("-inf"),
    "naïve ✓",
    b"\x00\xff",
    [1, (2, [3.5])],
    {"a": 1, 2: "b", (1, 2): None, None: [True]},
    (),
    {},
]


@pytest.mark.parametrize("obj", ROUND_TRIP, ids=repr)
def test_the_object_encoding_round_trips(obj: object) -> None:
    back = _objects.from_bytes(_objects.to_bytes(obj))
    assert back == obj and type(back) is type(obj)


def test_the_object_encoding_keeps_nan_and_tensors_of_every_dtype() -> None:
    assert np.isnan(_objects.from_bytes(_objects.to_bytes(float("nan"))))
    for kind in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8, torch.uint8,
                 torch.int16, torch.int32, torch.int64, torch.bool):  # fmt: skip
        tensor = (torch.arange(6).reshape(2, 3) - 2).to(kind)
        back = _objects.from_bytes(_objects.to_bytes({"t": tensor}))["t"]
        assert back.dtype == kind and back.shape == tensor.shape
        assert back._data.tobytes() == tensor._data.tobytes()
    strided = torch.arange(12.0).reshape(3, 4).t()
    assert _objects.from_bytes(_objects.to_bytes(strided)).tolist() == strided.tolist()


@pytest.mark.parametrize(
    "obj", [object(), {1, 2}, np.float32(1.0), 1j, print], ids=lambda obj: type(obj).__name__
)  # ids by type: an object's repr holds its address, which differs between xdist workers
def test_unsupported_objects_are_refused_before_sending(obj: object) -> None:
    with pytest.raises(TypeError, match="no pickle"):
        _objects.to_bytes(obj)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x80\x04\x95",  # a pickle: never unpickled, only refused
        b"not json",
        b'["int", 5]',
        b'["tensor", {"dtype": "object", "shape": [1], "data": ""}]',
        b'["tensor", {"dtype": "float32", "shape": [2], "data": "AAAA"}]',
        b'["bytes", "***"]',
        b'["float", "1e999x"]',
        b'["dict", [["only-key"]]]',
        b'["list", ' * 500 + b"[]" + b"]" * 500,
    ],
    ids=lambda p: p[:24].decode("latin-1"),
)
def test_malformed_messages_are_a_runtime_error(payload: bytes) -> None:
    with pytest.raises(RuntimeError, match="malformed object message"):
        _objects.from_bytes(payload)
