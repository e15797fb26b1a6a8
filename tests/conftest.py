"""Shared pytest fixtures: the devices antorcha can run on here."""

from __future__ import annotations

import pytest


def available_devices() -> list[str]:
    """'cpu', plus 'cuda' when antorcha.cuda exists and sees a GPU."""
    devices = ["cpu"]
    try:
        import antorcha.cuda

        if antorcha.cuda.is_available():
            devices.append("cuda")
    except ImportError:
        pass
    return devices


_NO_GPU = "no CUDA GPU (or no CuPy) on this machine: the cuda cases run on GPU machines only"


@pytest.fixture(
    scope="session",
    params=[
        "cpu",
        pytest.param("cuda", marks=pytest.mark.skipif("cuda" not in available_devices(), reason=_NO_GPU)),
    ],
)
def device(request: pytest.FixtureRequest) -> str:
    """cpu, then cuda (skipped with the reason where there is no GPU); session-scoped for hypothesis."""
    return request.param


@pytest.fixture(autouse=True)
def _same_random_start() -> None:
    """Every test starts both frameworks' default generators from the same seed: a test's draws do
    not depend on which tests ran before it on its worker, so a run is reproducible."""
    import torch

    import antorcha

    antorcha.manual_seed(0)
    torch.manual_seed(0)
