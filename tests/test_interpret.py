"""Tests for binn_lite.interpret: KAN curves/importance/formulas, partial dependence, scores, plots."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from binn_lite import interpret
from binn_lite.heads import KANHead, MLPHead

NAMES = ["driver", "noise1", "noise2"]


@pytest.fixture(scope="module")
def toy():
    """A KAN trained on p = sigmoid((x0^2 - 2) / 2); x1 and x2 are irrelevant."""
    X = torch.randn(512, 3, generator=torch.Generator().manual_seed(0))
    p = torch.sigmoid((X[:, :1] ** 2 - 2.0) / 2.0)
    head = KANHead(3, 1, seed=0)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = ((head(X) - p) ** 2).mean() + head.penalty()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-4
    return head, X


def test_kan_recovers_toy_curve_and_importance(toy):
    head, X = toy
    # where the data are dense (|x| < 2.5 sd) the learned edge has the shape of x^2
    curves = interpret.kan_edge_functions(head, X, n=101, names=NAMES, out_names=["p"], x_range=[[-2.5, 2.5]] * 3)
    assert list(curves.columns) == ["covariate", "parameter", "x", "value"]
    assert len(curves) == 3 * 101
    edge = curves[curves["covariate"] == "driver"]
    assert interpret.curve_correlation(edge["value"], edge["x"] ** 2) > 0.98
    agreement = interpret.curve_agreement(curves, {("driver", "p"): lambda x: x**2})
    assert agreement["correlation"].iloc[0] > 0.98
    for method in ("std", "pykan"):
        importance = interpret.kan_importance(head, X, names=NAMES, out_names=["p"], method=method)
        assert list(importance.index) == NAMES and list(importance.columns) == ["p"]
        ranked = importance["p"].sort_values(ascending=False)
        assert ranked.index[0] == "driver"
        assert ranked.iloc[0] > 50 * ranked.iloc[1]
    table, summary = interpret.retrieval_score(importance, {"p": ["driver"]})
    assert summary["text"] == "1/1" and table.loc["p", "kl"] < 0.01


def test_one_layer_edges_add_up_to_preactivation(toy):
    head, X = toy
    curves = interpret.kan_edge_functions(head, X, n=50, names=NAMES, out_names=["p"], center=False)
    per_cov = {name: curves[curves["covariate"] == name] for name in NAMES}
    grid = torch.tensor(np.stack([per_cov[name]["x"].to_numpy() for name in NAMES], axis=1), dtype=torch.float32)
    total = sum(per_cov[name]["value"].to_numpy() for name in NAMES)
    with torch.no_grad():
        u = head.preactivation(grid)[:, 0].numpy()
    assert np.allclose(total, u, atol=1e-5)
    # centred curves have mean zero over the data
    centred = interpret.kan_edge_functions(head, X, n=50, names=NAMES, out_names=["p"], x_range=[[-3, 3]] * 3)
    std_imp = interpret.kan_importance(head, X, names=NAMES, out_names=["p"])
    edges = head.edge_functions(X)[:, 0, :].detach()
    assert np.allclose(std_imp["p"].to_numpy(), edges.std(dim=0, correction=0).numpy(), rtol=1e-5)
    assert centred["x"].min() == -3 and centred["x"].max() == 3


def test_two_layer_curves_are_one_at_a_time_responses():
    head = KANHead(3, 2, hidden=4, grid=5, seed=1)
    X = torch.randn(200, 3, generator=torch.Generator().manual_seed(1))
    curves = interpret.kan_edge_functions(head, X, n=7, center=False)
    mean = X.mean(dim=0)
    probe = mean.repeat(7, 1)
    probe[:, 1] = torch.linspace(float(X[:, 1].min()), float(X[:, 1].max()), 7)
    with torch.no_grad():
        expected = head.preactivation(probe)[:, 0].numpy()
    got = curves[(curves["covariate"] == "x1") & (curves["parameter"] == "p0")]["value"].to_numpy()
    assert np.allclose(got, expected, atol=1e-5)
    importance = interpret.kan_importance(head, X)
    assert importance.shape == (3, 2) and (importance.to_numpy() > 0).all()


def test_symbolic_formulas_leave_head_untouched(toy):
    head, X = toy
    before = head(X).detach().clone()
    frame = interpret.symbolic_formulas(head, X, names=NAMES, out_names=["p"])
    assert list(frame.columns) == ["formula", "r2"] and list(frame.index) == ["p"]
    assert frame.loc["p", "r2"] > 0.99
    assert "driver" in frame.loc["p", "formula"]
    assert torch.equal(head(X), before)
    assert head.kan.symbolic_enabled is False
    constrained = interpret.symbolic_formulas(head, X, names=NAMES, out_names=["p"], apply_constraint=True)
    assert constrained.loc["p", "formula"].startswith("1/(")
    with pytest.raises(ValueError, match="unknown functions"):
        interpret.symbolic_formulas(head, X, lib=("x", "bessel"))


def test_partial_dependence_exact():
    X = torch.tensor([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])

    def fn(x):
        return torch.stack([x[:, 0] + x[:, 1], x[:, 0] * x[:, 1]], dim=1)

    grid = [-1.0, 0.0, 2.0]
    pd_values = interpret.partial_dependence(fn, X, 0, grid)
    mean_x1 = 3.0
    expected = torch.tensor([[v + mean_x1, v * mean_x1] for v in grid])
    assert torch.allclose(pd_values, expected)
    # small batch_size: same answer in chunks
    assert torch.allclose(interpret.partial_dependence(fn, X, 0, grid, batch_size=4), expected)
    with pytest.raises(ValueError, match="feature 5"):
        interpret.partial_dependence(fn, X, 5, grid)


def test_pd_importance_ranks_only_driver():
    X = torch.randn(300, 4, generator=torch.Generator().manual_seed(2))

    def fn(x):
        return torch.stack([torch.sigmoid(2 * x[:, 0]), 2.0 * x[:, 0]], dim=1)

    importance = interpret.pd_importance(fn, X, names=list("abcd"), out_names=["s", "lin"], n_grid=11)
    assert list(importance.index) == list("abcd") and list(importance.columns) == ["s", "lin"]
    assert importance.idxmax().tolist() == ["a", "a"]
    assert np.allclose(importance.loc[list("bcd")].to_numpy(), 0.0, atol=1e-10)
    # linear output: PD(v) = 2 v, so its variance is 4 var(grid of quantiles)
    grid = torch.quantile(X[:, 0].double(), torch.linspace(0, 1, 11, dtype=torch.float64))
    assert importance.loc["a", "lin"] == pytest.approx(4 * grid.var(correction=0).item(), rel=1e-5)


def test_pd_importance_of_mlp_uses_eval_mode():
    head = MLPHead(3, 2, batch_norm=True, seed=0)
    head.train()
    X = torch.randn(64, 3)
    importance = interpret.pd_importance(head, X, n_grid=5)
    assert importance.shape == (3, 2) and np.isfinite(importance.to_numpy()).all()
    assert head.training  # mode restored


def test_retrieval_score_exact_numbers():
    importance = pd.DataFrame(
        {"p0": [3.0, 1.0, 0.0, 0.0], "p1": [1.0, 1.0, 1.0, 1.0], "p2": [0.0, 0.0, 0.0, 2.0]},
        index=["a", "b", "c", "d"],
    )
    truth = {"p0": ["a", "b"], "p1": ["d"], "p2": ["d"]}
    table, summary = interpret.retrieval_score(importance, truth, eps=1e-6)
    assert table["hits"].tolist() == [2, 0, 1]
    assert table["top_ranked"].tolist() == ["a, b", "a", "d"]  # tie in p1 broken by index order
    assert summary["hits"] == 3 and summary["possible"] == 4 and summary["text"] == "3/4"
    assert summary["fraction"] == 0.75

    def q(share, n=4, eps=1e-6):
        return (share + eps) / (1 + n * eps)

    kl_p0 = 0.5 * math.log(0.5 / q(0.75)) + 0.5 * math.log(0.5 / q(0.25))
    kl_p1 = math.log(1.0 / q(0.25))
    kl_p2 = math.log(1.0 / q(1.0))
    assert table["kl"].tolist() == pytest.approx([kl_p0, kl_p1, kl_p2], rel=1e-12)
    assert kl_p0 == pytest.approx(0.5 * math.log(2 / 3) + 0.5 * math.log(2), abs=1e-5)
    assert kl_p1 == pytest.approx(math.log(4), abs=1e-5)  # uniform importance
    assert kl_p2 == pytest.approx(0.0, abs=1e-5)  # perfect attribution
    assert summary["mean_kl"] == pytest.approx((kl_p0 + kl_p1 + kl_p2) / 3)

    # a true driver with zero importance: large but finite, about ln(1 / eps)
    _, missed = interpret.retrieval_score(pd.DataFrame({"p": [1.0, 0.0]}, index=["a", "b"]), {"p": ["b"]})
    assert missed["mean_kl"] == pytest.approx(math.log((1 + 2e-6) / 1e-6), rel=1e-9)
    # all-zero column counts as uniform
    _, flat = interpret.retrieval_score(pd.DataFrame({"p": [0.0, 0.0]}, index=["a", "b"]), {"p": ["b"]})
    assert flat["mean_kl"] == pytest.approx(math.log(2))


def test_retrieval_score_validation():
    importance = pd.DataFrame({"p": [1.0, 2.0]}, index=["a", "b"])
    with pytest.raises(ValueError, match="'q'"):
        interpret.retrieval_score(importance, {"q": ["a"]})
    with pytest.raises(ValueError, match="'zz'"):
        interpret.retrieval_score(importance, {"p": ["zz"]})
    with pytest.raises(ValueError, match=">= 0"):
        interpret.retrieval_score(-importance, {"p": ["a"]})
    with pytest.raises(ValueError, match="NaN"):
        interpret.retrieval_score(importance * np.nan, {"p": ["a"]})


def test_curve_correlation():
    x = np.linspace(-2, 2, 41)
    assert interpret.curve_correlation(3 * x + 1, x) == pytest.approx(1.0)
    assert interpret.curve_correlation(-x, x) == pytest.approx(-1.0)
    assert interpret.curve_correlation(x**2, np.abs(x)) == pytest.approx(
        np.corrcoef(x**2, np.abs(x))[0, 1], rel=1e-12
    )
    with pytest.raises(ValueError, match="constant"):
        interpret.curve_correlation(np.ones(5), np.arange(5))
    with pytest.raises(ValueError, match="same length"):
        interpret.curve_correlation(np.arange(5), np.arange(6))


def test_plots_return_figures_and_write_nothing(toy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    head, X = toy
    importance = interpret.kan_importance(head, X, names=NAMES, out_names=["p"])
    fig = interpret.plot_importance(importance, truth={"p": ["driver"]}, title="toy")
    assert isinstance(fig, Figure)
    assert sum(1 for p in fig.axes[0].patches if p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)) == 1
    curves = interpret.kan_edge_functions(head, X, n=30, names=NAMES, out_names=["p"])
    fig = interpret.plot_edge_curves(curves, truth={("driver", "p"): lambda x: x**2})
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 1
    mlp = MLPHead(3, 2, seed=0)
    fig = interpret.plot_partial_dependence(mlp, X, names=NAMES, out_names=["a", "b"], n_grid=5)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert list(tmp_path.iterdir()) == []
    assert plt.fignum_exists(fig.number)  # drawn through pyplot, left open for the caller
    plt.close("all")


def test_input_validation():
    head = KANHead(2, 1, grid=5)
    with pytest.raises(ValueError, match="2 covariate columns"):
        interpret.kan_importance(head, torch.zeros(5, 3))
    bad = np.zeros((4, 2))
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match="row 3, column 0"):
        interpret.kan_edge_functions(head, bad)
    with pytest.raises(ValueError, match="KANHead"):
        interpret.kan_importance(MLPHead(2, 1), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="x_range"):
        interpret.kan_edge_functions(head, x_range=[[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="3 names given for 2"):
        interpret.kan_importance(head, torch.zeros(5, 2), names=["a", "b", "c"])
