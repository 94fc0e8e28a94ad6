"""Checkers of tutorial 01: the solution's answer passes, wrong answers get a hint, ``...`` waits."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from binn_lite import exercises as check
from binn_lite.clm5 import (CLM5, CLM5_PARAMETERS, DZ, MOST_INFLUENTIAL, POOLS, ZISOI, decomposition_rates,
                            heterotrophic_respiration, input_profile)
from binn_lite.exercises import matrix_model
from clm5_factory import make_forcing

PARAMS = CLM5_PARAMETERS.default[None]  # [1, 21] physical


@pytest.fixture(scope="module")
def forcing():
    return make_forcing(1, seed=3)


def said(capsys) -> str:
    return capsys.readouterr().out


def test_every_checker_waits_for_an_answer(forcing, capsys):
    assert check.check_som3_turnover(..., PARAMS, forcing, layer=5) is None
    assert check.check_half_input_depth(None, beta=0.95) is None
    assert check.check_input_equals_respiration(..., PARAMS, forcing) is None
    assert check.check_soc_at_1m(..., PARAMS, forcing) is None
    assert said(capsys).count("⏳ Not answered yet") == 4


def test_som3_turnover(forcing, capsys):
    rate = decomposition_rates(PARAMS, forcing)[0, 5, POOLS.index("som3")].item()  # day-1
    answer = 1 / (365 * rate)
    tau_s3 = CLM5_PARAMETERS["tau_s3"].default
    assert answer > 5 * tau_s3  # the environment slows SOM 3 down a lot at 0.40 m
    assert check.check_som3_turnover(answer, PARAMS, forcing, layer=5) is True
    assert "✅" in said(capsys)
    assert check.check_som3_turnover(torch.tensor(answer * 1.005), PARAMS, forcing, layer=5) is True
    assert check.check_som3_turnover(tau_s3, PARAMS, forcing, layer=5) is False
    assert "base turnover time" in said(capsys)
    assert check.check_som3_turnover(answer * 365, PARAMS, forcing, layer=5) is False
    assert "days" in said(capsys)
    assert check.check_som3_turnover(1 / answer, PARAMS, forcing, layer=5) is False
    assert "rate" in said(capsys)
    assert check.check_som3_turnover(answer, PARAMS, forcing, layer=4) is False  # another layer
    assert check.check_som3_turnover("long", PARAMS, forcing, layer=5) is False
    assert "one number" in said(capsys)


def test_half_input_depth(forcing, capsys):
    exact = math.log(1 - 0.5 * (1 - 0.95 ** 860)) / (100 * math.log(0.95))
    assert matrix_model.half_input_depth(0.95) == pytest.approx(exact) == pytest.approx(0.1351, abs=1e-4)
    # the notebook's solution: interpolate the cumulative fraction between layer bottoms
    p = PARAMS.clone()
    p[:, CLM5_PARAMETERS.index("beta")] = 0.95
    cumulative = np.concatenate([[0.0], input_profile(p, forcing)[0].cumsum(0).numpy()])
    interpolated = float(np.interp(0.5, cumulative, np.concatenate([[0.0], ZISOI.numpy()])))
    assert check.check_half_input_depth(interpolated, beta=0.95) is True
    assert check.check_half_input_depth(exact, beta=0.95) is True
    assert "✅" in said(capsys)
    assert check.check_half_input_depth(100 * exact, beta=0.95) is False
    assert "centimetres" in said(capsys)
    assert check.check_half_input_depth(0.20, beta=0.95) is False
    assert "layer bottom" in said(capsys)
    assert check.check_half_input_depth(0.5, beta=0.95) is False
    assert check.check_half_input_depth(exact, beta=0.97) is False  # depends on beta


def test_input_equals_respiration(forcing, capsys):
    pools = CLM5().steady_state(PARAMS, forcing)
    respiration = heterotrophic_respiration(PARAMS, forcing, pools)
    total_input = forcing.litter_input.sum().item()
    total_resp = ((respiration[0] * DZ).sum() * 365).item()
    assert total_resp == pytest.approx(total_input, rel=1e-8)  # mass balance of the assembled model
    assert check.check_input_equals_respiration((total_input, total_resp), PARAMS, forcing) is True
    assert "✅" in said(capsys)
    assert check.check_input_equals_respiration((total_input, total_resp / 365), PARAMS, forcing) is False
    assert "multiply by 365" in said(capsys)
    no_dz = (respiration[0].sum() * 365).item()
    assert check.check_input_equals_respiration((total_input, no_dz), PARAMS, forcing) is False
    assert "thickness DZ" in said(capsys)
    assert check.check_input_equals_respiration((total_input / 12, total_resp), PARAMS, forcing) is False
    assert "monthly mean" in said(capsys)
    assert check.check_input_equals_respiration(total_input, PARAMS, forcing) is False
    assert "pair" in said(capsys)


def test_soc_at_1m(forcing, capsys):
    changes = matrix_model.soc_change_at_depth(PARAMS, forcing)
    assert set(changes) == set(MOST_INFLUENTIAL)
    assert changes["efolding"] < 0 and changes["w_scaling"] < 0  # faster decomposition at depth: less SOC
    assert changes["tau_s3"] > 0 and changes["fs1s3"] > 0
    best = max(changes, key=changes.get)
    percent = 100 * changes[best]
    assert check.check_soc_at_1m((best, percent), PARAMS, forcing) is True
    assert "✅" in said(capsys)
    assert check.check_soc_at_1m((best, percent / 100), PARAMS, forcing) is False
    assert "per cent" in said(capsys)
    assert check.check_soc_at_1m((best, percent + 5), PARAMS, forcing) is False
    assert "right parameter, but not the right change" in said(capsys)
    other = "fs1s3" if best == "tau_s3" else "tau_s3"
    assert check.check_soc_at_1m((other, 100 * changes[other]), PARAMS, forcing) is False
    assert "another candidate raises SOC at 1 m more" in said(capsys)
    # a wrong guess reveals no candidate's effect
    assert check.check_soc_at_1m(("w_scaling", 1.0), PARAMS, forcing) is False
    text = said(capsys)
    assert "%" not in text and "is not the one" in text
    assert check.check_soc_at_1m(("bio", 1.0), PARAMS, forcing) is False
    assert check.check_soc_at_1m(best, PARAMS, forcing) is False
    assert "give a pair" in said(capsys)
    assert check.check_soc_at_1m((3, 1.0), PARAMS, forcing) is False
    assert "as text" in said(capsys)


def test_checkers_need_one_site(capsys):
    with pytest.raises(ValueError, match="one site"):
        check.check_som3_turnover(1.0, PARAMS, make_forcing(2), layer=5)
