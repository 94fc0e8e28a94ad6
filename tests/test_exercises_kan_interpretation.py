"""Checkers of tutorial 04: the solution's answer passes, wrong answers get a hint, ``...`` waits.

Small hand-made importance matrices and curve tables stand in for trained networks (the checkers
re-derive the answer from whatever objects they are given), plus the bundled covariates for the
correlation exercise.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from binn_lite import exercises as check
from binn_lite.clm5 import CLM5_PARAMETERS
from binn_lite.exercises import kan_interpretation as ki

COVARIATES = ["bio1", "clay", "ph", "cec", "veg_carbon"]
DRIVERS = {"tau_s3": ["ph", "cec"], "fs1s3": ["cec", "veg_carbon"]}


def said(capsys) -> str:
    return capsys.readouterr().out


@pytest.fixture()
def importance() -> pd.DataFrame:
    #                     bio1  clay   ph   cec  veg_carbon
    return pd.DataFrame({"tau_s3": [0.1, 0.2, 0.9, 0.5, 0.3],      # top 2: ph, cec      -> 2 hits
                         "fs1s3": [0.05, 0.8, 0.1, 0.3, 0.2]},     # top 2: clay, cec    -> 1 hit
                        index=pd.Index(COVARIATES, name="covariate"))


@pytest.fixture()
def curves() -> pd.DataFrame:
    x = np.linspace(-2, 2, 50)
    return pd.DataFrame({"covariate": "veg_carbon", "parameter": "efolding", "x": x, "value": 0.3 * x + 0.1})


@pytest.fixture(scope="module")
def covariates() -> pd.DataFrame:
    from binn_lite.data import load_example

    return load_example().covariates


def test_every_checker_waits_for_an_answer(importance, curves, capsys):
    assert check.check_top_driver(..., importance, "tau_s3") is None
    assert check.check_edge_effect(None, curves, "veg_carbon", "efolding", CLM5_PARAMETERS) is None
    assert check.check_retrieval_hits(..., importance, DRIVERS) is None
    assert check.check_confounder(..., pd.DataFrame({"a": [1.0, 2.0]}), "tau_s3", DRIVERS) is None
    assert said(capsys).count("⏳ Not answered yet") == 4


def test_top_driver(importance, capsys):
    assert ki.top_driver(importance, "tau_s3") == "ph"
    top = importance["tau_s3"].idxmax()
    assert check.check_top_driver((top, importance["tau_s3"].max()), importance, "tau_s3") is True
    assert "✅" in said(capsys)
    assert check.check_top_driver((top, 2 * importance["tau_s3"].max() + 1), importance, "tau_s3") is False
    assert "right covariate" in said(capsys)
    assert check.check_top_driver(("cec", importance.loc["cec", "tau_s3"]), importance, "tau_s3") is False
    assert "another covariate's is larger" in said(capsys)
    assert check.check_top_driver(("cec", 123.0), importance, "tau_s3") is False  # a guess reveals no rank
    text = said(capsys)
    assert "number 2" not in text and "largest value" in text
    assert check.check_top_driver(("fs1s3", 0.1), importance, "tau_s3") is False
    assert "parameter" in said(capsys)
    assert check.check_top_driver(("sand", 0.1), importance, "tau_s3") is False
    assert "not a covariate" in said(capsys)
    assert check.check_top_driver(top, importance, "tau_s3") is False
    assert "give a pair" in said(capsys)
    assert check.check_top_driver(3, importance, "tau_s3") is False
    # the checker follows the matrix it is given
    assert check.check_top_driver(("clay", importance.loc["clay", "fs1s3"]), importance, "fs1s3") is True
    with pytest.raises(ValueError, match="w_scaling"):
        check.check_top_driver(("clay", 0.1), importance, "w_scaling")


def test_edge_effect(curves, capsys):
    efolding = CLM5_PARAMETERS["efolding"]  # 0.1 - 1 m
    du = 0.3 * 4  # range of the toy edge in u units
    right = du / 6 * (efolding.high - efolding.low)
    assert ki.edge_effect_physical(curves, "veg_carbon", "efolding", CLM5_PARAMETERS) == pytest.approx(0.18)
    assert check.check_edge_effect(right, curves, "veg_carbon", "efolding", CLM5_PARAMETERS) is True
    assert "✅" in said(capsys)
    assert check.check_edge_effect(-right * 1.01, curves, "veg_carbon", "efolding", CLM5_PARAMETERS) is True
    said(capsys)
    assert check.check_edge_effect(du, curves, "veg_carbon", "efolding", CLM5_PARAMETERS) is False
    assert "divide by 6" in said(capsys)
    assert check.check_edge_effect(du / 6, curves, "veg_carbon", "efolding", CLM5_PARAMETERS) is False
    assert "high - low" in said(capsys)
    assert check.check_edge_effect(right + efolding.low, curves, "veg_carbon", "efolding", CLM5_PARAMETERS) is False
    assert "lower bound" in said(capsys)
    assert check.check_edge_effect("big", curves, "veg_carbon", "efolding", CLM5_PARAMETERS) is False
    assert "one number" in said(capsys)
    with pytest.raises(ValueError, match="no curve"):
        ki.edge_effect_physical(curves, "clay", "efolding", CLM5_PARAMETERS)


def test_retrieval_hits(importance, capsys):
    from binn_lite.relationships import retrieval_score

    assert ki.retrieval_hits(importance, DRIVERS) == 3
    assert retrieval_score(importance, DRIVERS)[1]["hits"] == 3  # agrees with the library
    assert check.check_retrieval_hits(3, importance, DRIVERS) is True
    assert "3/4" in said(capsys)
    assert check.check_retrieval_hits(np.int64(3), importance, DRIVERS) is True
    assert check.check_retrieval_hits(3.0, importance, DRIVERS) is True
    said(capsys)
    assert check.check_retrieval_hits(1, importance, DRIVERS) is False  # top-1 only: ph yes, clay no
    assert "single top covariate" in said(capsys)
    assert check.check_retrieval_hits(5, importance, DRIVERS) is False
    assert "at most 4" in said(capsys)
    assert check.check_retrieval_hits(0.75, importance, DRIVERS) is False
    assert "whole number" in said(capsys)
    assert check.check_retrieval_hits(2, importance, DRIVERS) is False


def test_confounder(covariates, capsys):
    name, driver, r = ki.most_confounded_covariate(covariates, "fs1s3", {"fs1s3": ["cec", "veg_carbon"]})
    assert (name, driver) == ("clay", "cec") and r == pytest.approx(0.746, abs=0.005)
    drivers = {"fs1s3": ["cec", "veg_carbon"]}
    answer = ("clay", covariates.corr().loc["clay", "cec"])
    assert check.check_confounder(answer, covariates, "fs1s3", drivers) is True
    assert "✅" in said(capsys)
    assert check.check_confounder(("clay", -r), covariates, "fs1s3", drivers) is False
    assert "sign" in said(capsys)
    assert check.check_confounder(("clay", r**2), covariates, "fs1s3", drivers) is False
    assert "r²" in said(capsys)
    assert check.check_confounder(("cec", 1.0), covariates, "fs1s3", drivers) is False
    assert "true driver" in said(capsys)
    assert check.check_confounder(("npp", 0.5), covariates, "fs1s3", drivers) is False
    assert "more strongly" in said(capsys)
    assert check.check_confounder("clay", covariates, "fs1s3", drivers) is False
    assert "pair" in said(capsys)
    # z-scoring does not change the answer
    z = (covariates - covariates.mean()) / covariates.std()
    assert check.check_confounder(answer, z, "fs1s3", drivers) is True
