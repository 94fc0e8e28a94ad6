"""binn_lite.setup_check: the report a learner runs first (versions, cores, GPU, one training step)."""
from __future__ import annotations

import math

import pytest
import torch

from binn_lite import setup_check as check


def test_report_names_versions_cores_and_a_timed_step(capsys):
    report = check.setup_check(steps=1)
    printed = capsys.readouterr().out
    for name in ("python", "binn_lite", "torch", "numpy", "pandas", "pykan", "ipywidgets", "xarray"):
        assert name in report.versions and name in printed
    assert report.problems == []
    assert report.cpu_count and report.torch_threads >= 1
    assert 0 < report.step_ms < 60_000 and 0 < report.step_ms_one_thread < 60_000
    assert report.verdict.split(":")[0] in ("ready", "slow machine", "too slow")
    assert printed.strip().splitlines()[-1] == f"verdict: {report.verdict}"


def test_timing_restores_torch_threads():
    before = torch.get_num_threads()
    assert check.time_training_step(steps=1, threads=1) > 0
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("step_ms, start", [(10, "ready: one training step 10 ms"),
                                            (check.READY_MS + 1, "slow machine"),
                                            (check.SLOW_MS + 1, "too slow")])
def test_verdict_by_step_time(step_ms, start):
    assert check.verdict(step_ms, []).startswith(start)


def test_a_missing_package_makes_it_not_ready(monkeypatch, capsys):
    monkeypatch.setattr(check, "PACKAGES", (("numpy", "numpy"), ("surely_not_installed_xyz", "xyz-dist")))
    report = check.setup_check(steps=1)
    assert report.versions["xyz-dist"] == "MISSING"
    assert math.isnan(report.step_ms)  # nothing timed while something is missing
    assert report.verdict.startswith("not ready: import surely_not_installed_xyz failed")
    assert "pip install xyz-dist" in capsys.readouterr().out


def test_main_exits_zero_when_ready(capsys):
    assert check.main(["--steps", "1"]) == 0
    assert "verdict: " in capsys.readouterr().out
