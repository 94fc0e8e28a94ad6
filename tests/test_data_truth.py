"""Truth: relationships evaluated as curves, components and at new sites; serialisation (binn_lite.data.truth)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from binn_lite.data import TRUTH_FUNCTIONS, Truth


def covariates(n: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"temp": rng.normal(10, 5, n), "rain": rng.gamma(4, 200, n)},
                        index=pd.Index([f"s{i:03d}" for i in range(n)], name="site_id"))


def make_truth(sites: pd.DataFrame) -> Truth:
    """``k`` (range 1-3) driven by temperature (x^2) and rain (log2); ``c`` (range 0-10) fixed at u = 0.5."""
    terms = [
        {"covariate": "temp", "f": "x^2", "a": 0.5, "b": 0.1, "c": 1.0, "d": 0.0, "mean": 10.0, "std": 5.0},
        {"covariate": "rain", "f": "log2(x+2.5)", "a": 0.3, "b": 0.0, "c": -0.5, "d": 0.2, "mean": 800.0, "std": 400.0},
    ]
    shell = Truth("toy", pd.DataFrame(index=sites.index, columns=["k", "c"], dtype=float),
                  {"k": terms}, {"k": {"g_min": -1.0, "g_max": 3.0, "u_min": 0.2, "u_max": 0.8}},
                  {"c": 0.5}, {"k": 1.0, "c": 0.0}, {"k": 3.0, "c": 10.0})
    unit = shell.evaluate(sites)
    return Truth("toy", unit * pd.Series({"k": 2.0, "c": 10.0}) + pd.Series({"k": 1.0, "c": 0.0}),
                 shell.relationships, shell.rescaling, shell.fixed, shell.low, shell.high)


def test_truth_curve_component_and_evaluate_agree():
    sites = covariates(30)
    truth = make_truth(sites)
    assert truth.drivers == {"k": ["temp", "rain"]} and truth.varying == ("k",)
    unit = truth.unit_params
    np.testing.assert_allclose(unit["c"], 0.5)
    # the curve through each site's own value of the other driver reproduces the parameter
    for site in sites.index[:5]:
        u = truth.curve("k", "temp", [sites.loc[site, "temp"]], at={"rain": sites.loc[site, "rain"]})
        np.testing.assert_allclose(u, unit.loc[site, "k"], rtol=1e-12)
    # by hand: u = 0.2 + 0.6 (g - g_min) / (g_max - g_min), other driver at its mean (x = 0)
    temp = np.array([0.0, 10.0, 20.0])
    x = (temp - 10.0) / 5.0
    g = (0.5 * x + 0.1) ** 2 + (-0.5 * np.log2(0.0 + 2.5) + 0.2)
    np.testing.assert_allclose(truth.curve("k", "temp", temp), 0.2 + 0.6 * (g + 1.0) / 4.0)
    np.testing.assert_allclose(truth.component("k", "temp", temp), 0.6 * (0.5 * x + 0.1) ** 2 / 4.0)
    assert np.all(truth.curve("k", "lat", [30.0, 40.0]) == truth.curve("k", "lat", [30.0, 40.0])[0])
    np.testing.assert_array_equal(truth.component("k", "lat", [1.0, 2.0]), [0.0, 0.0])
    np.testing.assert_array_equal(truth.curve("c", "temp", [1.0, 2.0]), [0.5, 0.5])
    # log2 undefined far outside the data: NaN in a curve, an error in evaluate
    assert np.isnan(truth.curve("k", "rain", [-5000.0]))[0]
    bad = sites.iloc[:2].copy()
    bad["rain"] = -5000.0
    with pytest.raises(ValueError, match="undefined at site 's000'"):
        truth.evaluate(bad)


def test_truth_subset_serialisation_and_errors():
    truth = make_truth(covariates(30))
    sub = truth.subset(["s004", "s000"])
    pd.testing.assert_frame_equal(sub.params, truth.params.loc[["s004", "s000"]])
    assert sub.relationships == truth.relationships and len(sub) == 2
    restored = Truth.from_dict(json.loads(json.dumps(truth.to_dict())), truth.params)
    np.testing.assert_allclose(restored.curve("k", "rain", [500.0, 900.0]), truth.curve("k", "rain", [500.0, 900.0]))
    with pytest.raises(ValueError, match="unknown function"):
        Truth("x", truth.params, {"k": [{**truth.relationships["k"][0], "f": "sin"}]}, truth.rescaling)
    with pytest.raises(ValueError, match="relationships but no rescaling"):
        Truth("x", truth.params, truth.relationships)
    assert repr(truth) == "Truth('toy', 30 sites, varying: k)"
    assert set(TRUTH_FUNCTIONS) == {"x", "x^2", "log2(x+2.5)", "2^x", "|x|"}
