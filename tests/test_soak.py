"""A short soak: the lesson's MLP and a two-layer transformer train without leaking.

The full run is `benchmarks/soak.py` (10,000 + 2,000 steps); this is its short form. After a
warm-up, the live Tensor and graph-node counts must stay exactly flat, and resident memory may
grow by less than RSS_SLACK_MIB (a tenth of a MiB per step would show up many times over).
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

import antorcha as torch

_SOAK_PATH = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"
_spec = importlib.util.spec_from_file_location("soak", _SOAK_PATH)
soak = importlib.util.module_from_spec(_spec)
sys.modules["soak"] = soak  # dataclasses look their module up there
_spec.loader.exec_module(soak)

RSS_SLACK_MIB = 5.0


def _assert_no_leak(result: soak.SoakResult) -> None:
    table = soak.format_result(result)
    assert result.tensor_growth == 0, table
    assert result.node_growth == 0, table
    assert result.rss_growth_mib < RSS_SLACK_MIB, table
    assert result.cyclic_after_warmup == 0, f"training steps left reference cycles\n{table}"


def test_lesson_mlp_does_not_leak() -> None:
    result = soak.soak("mlp", soak.mlp_stepper(), steps=600, warmup=50, samples=6)
    _assert_no_leak(result)
    assert result.samples[-1].loss < result.samples[0].loss  # it trained, so the steps were real


def test_transformer_does_not_leak() -> None:
    result = soak.soak("transformer", soak.transformer_stepper(), steps=200, warmup=30, samples=5)
    _assert_no_leak(result)
    assert result.samples[-1].loss < result.samples[0].loss


def test_soak_detects_a_kept_graph() -> None:
    """Keeping every loss (with its graph) must show up as growth: the measurement is not blind."""
    step = soak.mlp_stepper(batch=64)
    kept: list[torch.Tensor] = []

    def leaky(i: int) -> float:
        step(i)
        kept.append(torch.ones(3, requires_grad=True).exp().sum())  # a tensor and its graph, kept
        return 0.0

    result = soak.soak("leaky", leaky, steps=20, warmup=2, samples=4)
    assert result.tensor_growth > 0 and result.node_growth > 0
    assert not result.passed()


@pytest.mark.soak
def test_full_soak() -> None:
    """The issue's run: 10,000 lesson steps and 2,000 transformer steps (deselected by default)."""
    assert soak.main([]) == 0
