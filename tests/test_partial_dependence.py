"""Tests for binn_lite.partial_dependence: exact PD values, PD importance, eval mode, the figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from binn_lite.errors import BinnInputError
from binn_lite.heads import MLPHead
from binn_lite.partial_dependence import (curve_variance, partial_dependence, partial_dependence_curves,
                                         pd_importance, plot_partial_dependence)


def test_partial_dependence_exact():
    X = torch.tensor([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])

    def fn(x):
        return torch.stack([x[:, 0] + x[:, 1], x[:, 0] * x[:, 1]], dim=1)

    grid = [-1.0, 0.0, 2.0]
    pd_values = partial_dependence(fn, X, 0, grid)
    mean_x1 = 3.0
    expected = torch.tensor([[v + mean_x1, v * mean_x1] for v in grid])
    assert torch.allclose(pd_values, expected)
    # small batch_size: same answer in chunks
    assert torch.allclose(partial_dependence(fn, X, 0, grid, batch_size=4), expected)
    with pytest.raises(ValueError, match="feature 5"):
        partial_dependence(fn, X, 5, grid)


def test_pd_importance_ranks_only_driver():
    X = torch.randn(300, 4, generator=torch.Generator().manual_seed(2))

    def fn(x):
        return torch.stack([torch.sigmoid(2 * x[:, 0]), 2.0 * x[:, 0]], dim=1)

    importance = pd_importance(fn, X, names=list("abcd"), out_names=["s", "lin"], n_grid=11)
    assert list(importance.index) == list("abcd") and list(importance.columns) == ["s", "lin"]
    assert importance.idxmax().tolist() == ["a", "a"]
    assert np.allclose(importance.loc[list("bcd")].to_numpy(), 0.0, atol=1e-10)
    # linear output: PD(v) = 2 v, so its variance is 4 var(grid of quantiles)
    grid = torch.quantile(X[:, 0].double(), torch.linspace(0, 1, 11, dtype=torch.float64))
    assert importance.loc["a", "lin"] == pytest.approx(4 * grid.var(correction=0).item(), rel=1e-5)


def test_curve_variance_of_drawn_curves_is_pd_importance():
    X = torch.randn(200, 3, generator=torch.Generator().manual_seed(4))

    def fn(x):
        return torch.stack([x[:, 0] * x[:, 1], torch.tanh(x[:, 2])], dim=1)

    curves = partial_dependence_curves(fn, X, names=list("abc"), out_names=["prod", "tanh"], n_grid=7)
    from_curves = curve_variance(curves)
    pd.testing.assert_frame_equal(from_curves, pd_importance(fn, X, names=list("abc"), out_names=["prod", "tanh"],
                                                             n_grid=7))
    # by hand: the variance over its 7 points of the curve of c -> tanh
    c_tanh = curves[(curves["covariate"] == "c") & (curves["parameter"] == "tanh")]["value"]
    assert from_curves.loc["c", "tanh"] == pytest.approx(float(np.var(c_tanh)), rel=1e-12)
    with pytest.raises(BinnInputError, match="curve DataFrame"):
        curve_variance(pd.DataFrame({"x": [1.0]}))


def test_pd_importance_of_mlp_uses_eval_mode():
    head = MLPHead(3, 2, batch_norm=True, seed=0)
    head.train()
    X = torch.randn(64, 3)
    importance = pd_importance(head, X, n_grid=5)
    assert importance.shape == (3, 2) and np.isfinite(importance.to_numpy()).all()
    assert head.training  # mode restored


def test_curves_are_a_curve_table_per_covariate_and_output():
    X = torch.tensor([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0], [3.0, 40.0]])

    def fn(x):
        return torch.stack([x[:, 0] + x[:, 1], x[:, 1]], dim=1)

    curves = partial_dependence_curves(fn, X, names=["a", "b"], out_names=["sum", "b"], n_grid=3, grid="linear")
    assert list(curves.columns) == ["covariate", "parameter", "x", "value"] and len(curves) == 2 * 2 * 3
    assert curves[["covariate", "parameter"]].drop_duplicates().values.tolist() == [
        ["a", "sum"], ["a", "b"], ["b", "sum"], ["b", "b"]]
    sum_of_a = curves[(curves["covariate"] == "a") & (curves["parameter"] == "sum")]
    assert sum_of_a["x"].tolist() == [0.0, 1.5, 3.0] and sum_of_a["value"].tolist() == [25.0, 26.5, 28.0]
    centred = partial_dependence_curves(fn, X, n_grid=3, grid="linear", center=True)
    assert np.allclose(centred.groupby(["covariate", "parameter"])["value"].mean(), 0.0)
    with pytest.raises(ValueError, match="grid must be"):
        partial_dependence_curves(fn, X, grid="random")


def test_plot_partial_dependence_returns_its_figure_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    fig = plot_partial_dependence(MLPHead(3, 2, seed=0), X, names=["x", "y", "z"], out_names=["a", "b"], n_grid=5)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert list(tmp_path.iterdir()) == []
    assert plt.fignum_exists(fig.number)  # drawn through pyplot, left open for the caller
    plt.close("all")
