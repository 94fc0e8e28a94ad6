"""Checkers of tutorial 03: the solution's answer passes, wrong answers get a hint, ``...`` waits.

Small hand-made parameter tables, sensitivity matrices and posterior spreads stand in for a trained
BINN and an MCMC run (the checkers re-derive the answer from whatever objects they are given).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from binn_lite import exercises as check
from binn_lite.clm5 import CLM5_PARAMETERS, MOST_INFLUENTIAL
from binn_lite.exercises import parameter_recovery as pr
from binn_lite.metrics import pearson_r, recovery_table

NAMES = list(MOST_INFLUENTIAL)
SITES = pd.Index([f"S{i:05d}" for i in range(40)], name="site_id")


def said(capsys) -> str:
    return capsys.readouterr().out


@pytest.fixture()
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """True parameters and 'recovered' ones: w_scaling noisy and biased, fs1s3 noisy."""
    rng = np.random.default_rng(0)
    true = pd.DataFrame({name: CLM5_PARAMETERS[name].low + (CLM5_PARAMETERS[name].high - CLM5_PARAMETERS[name].low)
                         * rng.uniform(0.2, 0.8, len(SITES)) for name in NAMES}, index=SITES)
    recovered = true.copy()
    recovered["w_scaling"] = 0.9 * true["w_scaling"] + 0.1 + rng.normal(0, 0.2, len(SITES))
    recovered["fs1s3"] = true["fs1s3"] + rng.normal(0, 0.006, len(SITES))
    recovered["tau_s3"] = 200.0 + rng.normal(0, 30, len(SITES))
    return recovered.iloc[::-1], true  # rows in another order: matching is by site id


@pytest.fixture()
def recovery(frames) -> pd.DataFrame:
    recovered, true = frames
    return recovery_table(recovered[NAMES], true)


@pytest.fixture()
def jacobian() -> np.ndarray:
    """A 6 x 4 sensitivity matrix with singular values 7.5, 0.5, 0.08, 0.007 and a known weak direction."""
    rng = np.random.default_rng(1)
    u, _ = np.linalg.qr(rng.normal(size=(6, 4)))
    weak = np.array([0.5, 0.5, -0.6, -0.37])
    basis = np.linalg.qr(np.column_stack([weak, rng.normal(size=(4, 3))]))[0]  # first column ∝ weak
    v = basis[:, [1, 2, 3, 0]]  # the weak direction goes with the smallest singular value
    return u @ np.diag([7.5, 0.5, 0.08, 0.007]) @ v.T


@pytest.fixture()
def posterior() -> tuple[pd.DataFrame, object]:
    table = CLM5_PARAMETERS.subset(NAMES)
    prior = pr.prior_sd(table)
    # ratios posterior/prior: tau_s3 widest relative to its prior; raw sd largest for tau_s3 too
    ratio = pd.DataFrame({"efolding": [0.5, 0.6], "tau_s3": [0.8, 0.7], "fs1s3": [0.4, 0.5], "w_scaling": [0.6, 0.6]},
                         index=SITES[:2])
    return ratio * prior, table


def test_every_checker_waits_for_an_answer(recovery, frames, jacobian, posterior, capsys):
    recovered, true = frames
    assert check.check_recovery_r2(..., recovery, "fs1s3") is None
    assert check.check_r2_by_hand(None, recovered, true, "w_scaling") is None
    assert check.check_weak_direction(..., jacobian, NAMES) is None
    assert check.check_least_constrained(..., *posterior) is None
    assert said(capsys).count("⏳ Not answered yet") == 4


def test_recovery_r2(recovery, capsys):
    right = recovery.loc["fs1s3", "r2"]
    assert 0.5 < right < 0.99
    assert check.check_recovery_r2(right, recovery, "fs1s3") is True
    assert check.check_recovery_r2(round(right, 2), recovery, "fs1s3") is True  # two decimals are enough
    assert "✅" in said(capsys)
    assert check.check_recovery_r2(recovery.loc["fs1s3", "r"], recovery, "fs1s3") is False
    assert "Pearson" in said(capsys)
    assert check.check_recovery_r2(recovery.loc["w_scaling", "r2"], recovery, "fs1s3") is False
    assert "R² of w_scaling" in said(capsys)
    assert check.check_recovery_r2(100 * right, recovery, "fs1s3") is False
    assert "per cent" in said(capsys)
    assert check.check_recovery_r2("high", recovery, "fs1s3") is False
    with pytest.raises(ValueError, match="not a row"):
        check.check_recovery_r2(0.5, recovery, "beta")


def test_r2_by_hand(frames, capsys):
    recovered, true = frames
    p, t = recovered["w_scaling"], true.loc[recovered.index, "w_scaling"]
    ss_res, ss_tot = ((p - t) ** 2).sum(), ((t - t.mean()) ** 2).sum()
    answer = 1 - ss_res / ss_tot
    assert math.isclose(answer, 0.8226, abs_tol=0.3)  # a fair recovery, not a perfect one
    assert check.check_r2_by_hand(answer, recovered, true, "w_scaling") is True
    assert "SS_res" in said(capsys)
    r = pearson_r(p.to_numpy(), t.to_numpy())
    assert abs(r * r - answer) > 1e-3  # bias makes R² differ from r²
    assert check.check_r2_by_hand(r * r, recovered, true, "w_scaling") is False
    assert "squared Pearson" in said(capsys)
    wrong_tot = 1 - ss_res / ((p - p.mean()) ** 2).sum()
    assert check.check_r2_by_hand(wrong_tot, recovered, true, "w_scaling") is False
    assert "TRUE values" in said(capsys)
    assert check.check_r2_by_hand(ss_res / ss_tot, recovered, true, "w_scaling") is False
    assert "one minus" in said(capsys)
    # comparing rows by position instead of site id gives another number
    by_position = 1 - ((p.to_numpy() - true["w_scaling"].to_numpy()) ** 2).sum() / ss_tot
    assert check.check_r2_by_hand(by_position, recovered, true, "w_scaling") is False
    with pytest.raises(ValueError, match="not a column"):
        check.check_r2_by_hand(0.5, recovered, true, "beta")


def test_weak_direction(jacobian, capsys):
    v, s_min = pr.weakest_direction(jacobian)
    assert math.isclose(s_min, 0.007, rel_tol=1e-9)
    expected = np.array([0.5, 0.5, -0.6, -0.37]) / np.linalg.norm([0.5, 0.5, -0.6, -0.37])
    assert np.allclose(v, expected, atol=1e-9)
    _, _, vh = np.linalg.svd(jacobian)
    assert check.check_weak_direction(vh[-1], jacobian, NAMES) is True  # the solution
    assert check.check_weak_direction(-3 * vh[-1], jacobian, NAMES) is True  # any length, either sign
    assert "✅" in said(capsys)
    assert check.check_weak_direction(vh[0], jacobian, NAMES) is False
    assert "MOST sensitive" in said(capsys)
    assert check.check_weak_direction([0, 1, 0, 0], jacobian, NAMES) is False
    assert "least possible is 0.0070" in said(capsys)
    assert check.check_weak_direction([0, 0, 0, 0], jacobian, NAMES) is False
    assert "zero" in said(capsys)
    assert check.check_weak_direction([1, 2, 3], jacobian, NAMES) is False
    assert "give 4 numbers" in said(capsys)


def test_weak_direction_with_fewer_observations_than_parameters(jacobian):
    v, s_min = pr.weakest_direction(jacobian[:3])  # 3 equations, 4 unknowns: a null direction
    assert s_min == 0.0 and np.linalg.norm(jacobian[:3] @ v) < 1e-12
    with pytest.raises(ValueError, match="2-D"):
        pr.weakest_direction(np.zeros(4))


def test_least_constrained(posterior, capsys):
    sd, table = posterior
    ratio = pr.posterior_shrinkage(sd, table)
    assert ratio.idxmax() == "tau_s3" and math.isclose(ratio["tau_s3"], 0.75)
    assert math.isclose(pr.prior_sd(table)["tau_s3"], 380 / math.sqrt(12))
    assert check.check_least_constrained(("tau_s3", 0.75), sd, table) is True
    assert "✅" in said(capsys)
    assert check.check_least_constrained(("tau_s3", 0.5), sd, table) is False
    assert "right parameter, but not its ratio" in said(capsys)
    assert check.check_least_constrained(("fs1s3", ratio["fs1s3"]), sd, table) is False
    assert "another parameter's is larger" in said(capsys)
    assert check.check_least_constrained(("fs1s3", 0.9), sd, table) is False  # a guess reveals no ratio
    text = said(capsys)
    assert "0.75" not in text and "largest mean ratio" in text
    assert check.check_least_constrained(("beta", 0.5), sd, table) is False
    assert "not sampled" in said(capsys)
    assert check.check_least_constrained("tau_s3", sd, table) is False
    assert "give a pair" in said(capsys)
    assert check.check_least_constrained(3, sd, table) is False


def test_least_constrained_catches_raw_standard_deviations(capsys):
    table = CLM5_PARAMETERS.subset(NAMES)
    prior = pr.prior_sd(table)
    ratio = pd.DataFrame({"efolding": [0.9], "tau_s3": [0.5], "fs1s3": [0.4], "w_scaling": [0.6]}, index=SITES[:1])
    sd = ratio * prior  # raw sd largest for tau_s3 (years), ratio largest for efolding
    assert sd.mean().idxmax() == "tau_s3"
    assert check.check_least_constrained(("efolding", 0.9), sd, table) is True
    assert check.check_least_constrained(("tau_s3", 0.5), sd, table) is False
    assert "different units" in said(capsys)
