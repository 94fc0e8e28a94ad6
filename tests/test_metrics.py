"""Metrics: hand-computed values, NaN handling, R² versus squared Pearson, recovery tables."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from binn_lite.metrics import bias, kge, nse, pearson_r, r2, recovery_table, rmse, soc_metrics

OBS = np.array([1.0, 2.0, 3.0, 4.0])


def test_nse_by_hand():
    # SS_res = 1, SS_tot = 5
    assert nse([1.0, 2.0, 3.0, 5.0], OBS) == pytest.approx(0.8)
    assert nse(OBS, OBS) == 1.0
    assert nse(np.full(4, OBS.mean()), OBS) == pytest.approx(0.0)


def test_r2_is_not_squared_pearson():
    shifted = OBS + 1.0  # perfectly correlated but biased
    assert pearson_r(shifted, OBS) == pytest.approx(1.0)
    assert r2(shifted, OBS) == pytest.approx(1.0 - 4.0 / 5.0)
    assert r2(-OBS, OBS) < 0  # can be negative


def test_rmse_bias_kge_by_hand():
    doubled = 2.0 * OBS
    assert rmse(doubled, OBS) == pytest.approx(math.sqrt(np.mean(OBS**2)))
    assert bias(doubled, OBS) == pytest.approx(2.5)
    # r = 1, alpha = 2, beta = 2
    assert kge(doubled, OBS) == pytest.approx(1.0 - math.sqrt(2.0))
    assert kge(OBS, OBS) == pytest.approx(1.0)


def test_nan_pairs_are_ignored_and_inputs_may_be_torch_or_pandas():
    pred = torch.tensor([[1.0, 2.0, float("nan")], [3.0, 5.0, 7.0]])
    obs = torch.tensor([[1.0, 2.0, 10.0], [3.0, 4.0, float("nan")]], dtype=torch.float64)
    assert nse(pred, obs) == pytest.approx(0.8)
    assert rmse(pd.Series([1.0, np.nan, 3.0]), pd.Series([1.0, 2.0, 5.0])) == pytest.approx(math.sqrt(2.0))


def test_undefined_metrics_raise():
    with pytest.raises(ValueError, match="shape"):
        nse([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="no pair"):
        rmse([np.nan, 1.0], [2.0, np.nan])
    with pytest.raises(ValueError, match="observations are constant"):
        nse([1.0, 2.0], [3.0, 3.0])
    with pytest.raises(ValueError, match="predictions are constant"):
        pearson_r([1.0, 1.0], [3.0, 4.0])


def test_soc_metrics_series():
    m = soc_metrics([1.0, 2.0, 3.0, 5.0, np.nan], [1.0, 2.0, 3.0, 4.0, 9.0])
    assert list(m.index) == ["nse", "kge", "r2", "r", "rmse", "bias", "n"]
    assert m["nse"] == pytest.approx(0.8) and m["r2"] == pytest.approx(0.8)
    assert m["rmse"] == pytest.approx(0.5) and m["bias"] == pytest.approx(0.25)
    assert m["n"] == 4


def test_recovery_table():
    sites = pd.Index(["a", "b", "c", "d"], name="site_id")
    truth = pd.DataFrame({"tau_s3": [100.0, 200.0, 300.0, 400.0], "q10": 2.0, "beta": 0.9}, index=sites)
    # predictions for three sites, in another order
    pred = pd.DataFrame({"q10": [2.0, 2.0, 2.0], "tau_s3": [310.0, 90.0, 200.0]}, index=["c", "a", "b"])
    table = recovery_table(pred, truth)
    assert list(table.index) == ["q10", "tau_s3"]
    obs = np.array([300.0, 100.0, 200.0])
    expected_r2 = 1 - 200.0 / np.sum((obs - obs.mean()) ** 2)
    assert table.loc["tau_s3", "r2"] == pytest.approx(expected_r2)
    assert table.loc["tau_s3", "rmse"] == pytest.approx(math.sqrt(200.0 / 3))
    assert table.loc["tau_s3", "bias"] == pytest.approx(0.0)
    assert table.loc["tau_s3", "n"] == 3 and table.loc["tau_s3", "note"] == ""
    assert math.isnan(table.loc["q10", "r2"]) and "constant" in table.loc["q10", "note"]
    assert table.loc["q10", "rmse"] == 0.0
    with pytest.raises(ValueError, match="no true parameters"):
        recovery_table(pred.rename(index={"c": "z"}), truth)
    with pytest.raises(ValueError, match="not a column"):
        recovery_table(pred, truth, parameters=["efolding"])
