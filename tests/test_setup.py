"""The newcomer's set-up: `make demo` installs no test extra (no PyTorch download); `make test` does."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def planned_commands(target: str, tmp_path: Path) -> str:
    """What `make TARGET` would run from a fresh clone (-n: print, run nothing; a venv not made yet)."""
    venv = tmp_path / "fresh-venv"
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), target, f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_make_demo_installs_the_package_without_the_test_extra(tmp_path: Path) -> None:
    commands = planned_commands("demo", tmp_path)
    installs = [line for line in commands.splitlines() if "pip install" in line]
    assert installs == [installs[0]] and "-e '.[progress]'" in installs[0]
    assert "[test]" not in commands
    assert commands.strip().splitlines()[-1].endswith("antorcha lesson")


def test_make_test_installs_the_test_extra_then_lints_and_runs_pytest(tmp_path: Path) -> None:
    commands = planned_commands("test", tmp_path).splitlines()
    install = next(i for i, line in enumerate(commands) if "pip install" in line)
    lint = next(i for i, line in enumerate(commands) if "ruff check" in line)
    pytest_run = next(i for i, line in enumerate(commands) if "-m pytest" in line)
    assert "-e '.[test]'" in commands[install]
    assert install < lint < pytest_run


def test_the_demo_runs_with_the_required_dependencies_only() -> None:
    """`antorcha lesson` and its imports need nothing outside [project].dependencies (tqdm is optional)."""
    script = (
        "import sys, builtins\n"
        "blocked = ('torch', 'tqdm', 'matplotlib', 'sklearn', 'numba', 'tensorboardX', 'graphviz', 'cupy')\n"
        "real = builtins.__import__\n"
        "def guard(name, *args, **kwargs):\n"
        "    if name.split('.')[0] in blocked:\n"
        "        raise ImportError(name)\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = guard\n"
        "from antorcha.cli import main\n"
        "sys.exit(main(['lesson', '--samples', '512', '--epochs', '2', '--device', 'cpu']))\n"
    )
    import sys

    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "final loss" in result.stdout
