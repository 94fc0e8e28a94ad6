"""Checkers of tutorial 07: the solution's answer passes, wrong answers get a hint, ``...`` waits.

A hand-made export of three short profiles (one stony, one horizon without a bulk density in two
of them, one row listed twice) stands in for the generated one; the checkers re-derive the answer.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from binn_lite import exercises as check
from binn_lite.errors import BinnInputError
from binn_lite.exercises import byod as ex


def said(capsys) -> str:
    return capsys.readouterr().out


# -- exercise 1: one horizon ---------------------------------------------------------------------
HORIZON = dict(orgc_percent=2.0, bulk_density=1.3, coarse_percent=10.0)


def test_horizon_solution_passes(capsys):
    answer = 2.0 / 100 * 1.3 * 1e6 * (1 - 10 / 100)
    assert answer == pytest.approx(23_400.0)
    assert check.check_horizon_soc(answer, **HORIZON) is True
    assert "23,400" in said(capsys)


@pytest.mark.parametrize("answer, hint", [
    (26_000.0, "stones"),             # no coarse-fragment correction
    (2_600.0, "stones' share"),  # x cfvo/100 instead of (1 - cfvo/100)
    (-234_000.0, "percentage"),       # 1 - cfvo instead of 1 - cfvo/100
    (2_340.0, "10,000, not 1,000"),   # % read as g/kg
    (23.4, "kg C m-3"),
    (2_340_000.0, "per cent"),        # orgc not divided by 100
    (12_345.0, "fine-earth share"),
])
def test_horizon_wrong_answers_get_hints(answer, hint, capsys):
    assert check.check_horizon_soc(answer, **HORIZON) is False
    assert hint in said(capsys)


def test_horizon_waits_and_refuses_text(capsys):
    assert check.check_horizon_soc(..., **HORIZON) is None
    assert "⏳" in said(capsys)
    assert check.check_horizon_soc("23400", **HORIZON) is False
    assert "not text" in said(capsys)


# -- exercise 2: filling missing bulk densities ---------------------------------------------------
@pytest.fixture()
def export() -> pd.DataFrame:
    rows = [  # profile_id, upper_depth, lower_depth, orgc, bdod, cfvo
        ("A", 0, 10, 3.0, 1.10, 0), ("A", 10, 30, 2.0, np.nan, 20), ("A", 30, 60, 1.0, 1.50, 20),
        ("B", 0, 20, 4.0, 1.00, 0), ("B", 20, 40, 3.0, np.nan, 0), ("B", 40, 80, 1.0, 1.40, 0),
        ("B", 40, 80, 1.0, 1.40, 0),  # listed twice
        ("C", 0, 30, 5.0, 1.20, 0), ("C", 30, 50, 1.0, 1.30, 0),
    ]
    return pd.DataFrame(rows, columns=["profile_id", "upper_depth", "lower_depth", "orgc", "bdod", "cfvo"])


def test_filled_horizons_interpolate_with_depth(export):
    filled = ex.filled_horizons(export).set_index("profile_id")
    assert filled.loc["A", "bdod_filled"] == pytest.approx(1.1 + (20 - 5) / (45 - 5) * 0.4)
    assert filled.loc["B", "bdod_filled"] == pytest.approx(1.0 + (30 - 10) / (60 - 10) * 0.4)
    assert filled.loc["B", "soc_gC_m3"] == pytest.approx(3.0 * 1.16 * 1e4)


def test_filled_solution_passes(export, capsys):
    filled = ex.filled_horizons(export)
    best = filled.loc[filled["soc_gC_m3"].idxmax()]
    assert best["profile_id"] == "B"
    assert check.check_filled_horizon(("B", float(best["soc_gC_m3"])), export) is True
    assert "✅" in said(capsys)


@pytest.mark.parametrize("answer, hint", [
    (("B", 3.0 * 1.2 * 1e4), "mean bulk density"),     # profile mean instead of interpolation
    (("A", 2.0 * 1.25 * 1e4 * 0.8), "holds less SOC"),  # another filled horizon
    (("C", 12_345.0), "no horizon without a bulk density"),
    (("B", 1.0), "np.interp"),
    ("B", "give a pair"),
])
def test_filled_wrong_answers_get_hints(export, answer, hint, capsys):
    assert check.check_filled_horizon(answer, export) is False
    assert hint in said(capsys)


def test_filled_forgotten_stones_are_named(export, capsys):
    export.loc[4, "cfvo"] = 25.0  # B's missing horizon becomes stony
    assert check.check_filled_horizon(("B", 3.0 * 1.16 * 1e4), export) is False
    assert "1 - cfvo/100" in said(capsys)


def test_filled_needs_a_fillable_horizon(export):
    with pytest.raises(BinnInputError, match="no horizon without a bulk density"):
        ex.filled_horizons(export.dropna())


# -- exercise 3: the topsoil stock ------------------------------------------------------------------
@pytest.fixture()
def observations() -> pd.DataFrame:
    return pd.DataFrame({
        "site_id": ["S1", "S1", "S1", "S2", "S2"],
        "top_m": [0.0, 0.1, 0.25, 0.0, 0.2],
        "bottom_m": [0.1, 0.25, 0.6, 0.2, 0.5],
        "soc_gC_m3": [40_000.0, 20_000.0, 10_000.0, 30_000.0, 25_000.0],
    })


def test_stock_solution_passes(observations, capsys):
    stocks = ex.topsoil_stocks(observations, 0.3)
    assert stocks["S1"] == pytest.approx((4000 + 3000 + 500) / 1000)
    assert stocks["S2"] == pytest.approx((6000 + 2500) / 1000)
    assert check.check_largest_stock(("S2", 8.5), observations) is True
    assert "8.50 kg C m-2" in said(capsys)


@pytest.mark.parametrize("answer, hint", [
    (("S2", 8500.0), "g C m-2"),
    (("S2", 850.0), "metres"),
    (("S2", 13.5), "part above"),          # whole horizons that start above 30 cm
    (("S1", 7.5), "another site holds more"),
    (("S1", 1.0), "not the site with the largest"),
    (("S9", 1.0), "not a site"),
    (("S2", 1.0), "right site"),
    ((8.5, "S2"), "first element"),
])
def test_stock_wrong_answers_get_hints(observations, answer, hint, capsys):
    assert check.check_largest_stock(answer, observations) is False
    assert hint in said(capsys)


def test_stock_needs_the_horizon_columns(observations):
    with pytest.raises(BinnInputError, match="top_m"):
        ex.topsoil_stocks(observations.drop(columns="top_m"))


def test_hints_and_solutions_are_reachable(capsys):
    check.hint("07.2")
    assert "np.interp" in said(capsys)
    from binn_lite.exercises.hints import solution
    assert "check.check_largest_stock(" in solution("07.3")
