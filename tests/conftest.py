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


@pytest.fixture(scope="session", params=available_devices())
def device(request: pytest.FixtureRequest) -> str:
    """Each available device in turn (session-scoped so hypothesis tests may use it)."""
    return request.param
