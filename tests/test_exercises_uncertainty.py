"""Checkers of tutorial 06: the solution's answer passes, wrong answers get a hint, ``...`` waits.

Hand-made intervals and profiles stand in for an ensemble's output; the stock exercise uses a
short projection of three synthetic sites (the checkers re-derive the answer from what they get).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from binn_lite import exercises as check
from binn_lite.clm5 import DZ, ZISOI
from binn_lite.data import make_synthetic
from binn_lite.errors import BinnInputError
from binn_lite.exercises import uncertainty as ex
from binn_lite.projection import Scenario, true_projection
from binn_lite.uncertainty import Samples, noise_sd

NAN = float("nan")


def said(capsys) -> str:
    return capsys.readouterr().out


# -- exercise 1: coverage ----------------------------------------------------------------------------
@pytest.fixture()
def interval():
    """Four finite observations (one below, one above, two inside) and NaN padding."""
    observed = torch.tensor([[10.0, 20.0, NAN], [30.0, 40.0, NAN]], dtype=torch.float64)
    lower = torch.tensor([[11.0, 15.0, NAN], [25.0, 35.0, NAN]], dtype=torch.float64)
    upper = torch.tensor([[12.0, 25.0, NAN], [29.0, 45.0, NAN]], dtype=torch.float64)
    return lower, upper, observed


def test_coverage_solution_passes(interval, capsys):
    lower, upper, observed = interval
    inside = ((observed >= lower) & (observed <= upper))[torch.isfinite(observed)]
    answer = inside.double().mean().item()
    assert answer == pytest.approx(0.5)
    assert check.check_coverage(answer, lower, upper, observed) is True
    assert "✅" in said(capsys)


@pytest.mark.parametrize("answer, hint", [(50.0, "per cent"), (0.5 + 1e-2, "count"), (1 / 3, "NaN padding")])
def test_coverage_wrong_answers_get_hints(interval, answer, hint, capsys):
    assert check.check_coverage(answer, *interval) is False
    assert hint in said(capsys)


def test_coverage_outside_share_is_named(capsys):
    observed = torch.tensor([1.0, 2.0, 3.0, 4.0])
    lower, upper = torch.zeros(4), torch.tensor([5.0, 5.0, 5.0, 0.0])
    assert check.check_coverage(0.25, lower, upper, observed) is False
    assert "OUTSIDE" in said(capsys)


def test_coverage_waits_for_an_answer(interval, capsys):
    assert check.check_coverage(..., *interval) is None
    assert "⏳" in said(capsys)


# -- exercise 2: the noise -------------------------------------------------------------------------
@pytest.fixture()
def residuals():
    rng = np.random.default_rng(0)
    predicted = np.exp(rng.normal(8, 1, size=(50, 6)))
    observed = predicted * np.exp(rng.normal(0, 0.1, size=(50, 6)))
    observed[:, 5] = NAN
    predicted[:, 5] = NAN
    return torch.from_numpy(predicted).float(), torch.from_numpy(observed)


def test_noise_sd_solution_passes(residuals, capsys):
    predicted, observed = residuals
    finite = torch.isfinite(observed)
    answer = (observed[finite].log() - predicted.double()[finite].log()).pow(2).mean().sqrt().item()
    assert check.check_noise_sd(answer, predicted, observed) is True
    assert "sigma" in said(capsys)
    assert ex.log_noise_sd(predicted, observed) == pytest.approx(0.1, rel=0.1)


def test_noise_sd_wrong_answers_get_hints(residuals, capsys):
    predicted, observed = residuals
    right = ex.log_noise_sd(predicted, observed)
    p, y = predicted.double().numpy(), observed.numpy()
    finite = np.isfinite(y)
    relative = math.sqrt(np.mean((y[finite] / p[finite] - 1) ** 2))
    for answer, hint in [(right**2, "square root"), (right / math.log(10), "log10"), (relative, "relative error"),
                         (2 * right, "residuals")]:
        assert check.check_noise_sd(answer, predicted, observed) is False
        assert hint in said(capsys)
    assert check.check_noise_sd("0.1", predicted, observed) is False
    assert "not text" in said(capsys)


def test_noise_sd_printed_dropout_sigma_is_named(residuals, capsys):
    """The sigma section 2 printed (noise_sd of the MC-dropout passes) is recognised, rounded as printed or in
    full, and the message says what it is and what is asked -- without the right value."""
    predicted, observed = residuals
    rng = np.random.default_rng(1)
    passes = predicted.double().numpy() * np.exp(rng.normal(0.05, 0.05, size=(20, *predicted.shape)))
    samples = Samples("mc_dropout", pd.Index(range(50)), ("a",), torch.zeros(20, 50, 1), torch.zeros(20, 50, 1),
                      torch.from_numpy(passes))
    right, printed = ex.log_noise_sd(predicted, observed), noise_sd(samples, observed)
    assert abs(printed - right) > 0.01  # the two quantities differ
    for answer in [round(printed, 3), printed]:
        assert check.check_noise_sd(answer, predicted, observed, dropout_samples=samples) is False
        message = said(capsys)
        assert "MC-dropout" in message and "20 passes" in message and "eval-mode" in message
        assert "predicted_train" in message and f"{right:.3f}" not in message
    # without the samples the checker cannot tell, and falls back to the general hint
    assert check.check_noise_sd(round(printed, 3), predicted, observed) is False
    assert "residuals" in said(capsys)
    # the right answer still passes when the samples are given; typed with 3 decimals it is called rounded
    assert check.check_noise_sd(right, predicted, observed, dropout_samples=samples) is True
    said(capsys)
    assert abs(round(right, 3) - right) > 1e-4 * right  # outside the tolerance
    assert check.check_noise_sd(round(right, 3), predicted, observed, dropout_samples=samples) is False
    assert "rounded" in said(capsys)


def test_noise_sd_input_is_checked(residuals):
    predicted, observed = residuals
    with pytest.raises(BinnInputError, match="same shape"):
        check.check_noise_sd(0.1, predicted[:3], observed)


# -- exercise 3: a stock change by hand ----------------------------------------------------------------
@pytest.fixture(scope="module")
def projection():
    return true_projection(make_synthetic(3, seed=4, noise=0.0), Scenario(2.0, years=10))


def test_stock_change_solution_passes(projection, capsys):
    soc = projection.soc[1]  # site 1, [11 years, 20 layers]
    top = ZISOI - DZ
    thickness = torch.clamp(1.0 - top, min=0).minimum(DZ)  # the part of each layer above 1 m
    answer = float(((soc[-1] - soc[0]) * thickness).sum())
    assert check.check_stock_change(answer, projection, site=1, depth=1.0) is True
    assert "gC m-2" in said(capsys)
    assert answer == pytest.approx(float(projection.final_change(1.0)[1]), rel=1e-12)


def test_stock_change_wrong_answers_get_hints(projection, capsys):
    soc = projection.soc[0]
    change = soc[-1] - soc[0]
    right = ex.stock_change_by_hand(projection, 0, 1.0)
    whole = float((change * torch.where(ZISOI <= 1.0, DZ, torch.zeros_like(DZ))).sum())
    for answer, hint in [(-right, "sign"), (whole, "whole layers"), (float((change * DZ).sum()), "whole profile"),
                         (float(change[ZISOI <= 1.0].sum()), "thickness"), (right * 1.5, "stock = ")]:
        assert check.check_stock_change(answer, projection, site=0, depth=1.0) is False
        assert hint in said(capsys)


def test_stock_change_needs_one_projection(projection):
    with pytest.raises(BinnInputError, match="Projection"):
        check.check_stock_change(1.0, projection.soc, site=0)
