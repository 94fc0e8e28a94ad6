"""Tests for binn_lite.interpret: a KAN head's edge functions, importance and symbolic formulas."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from binn_lite import interpret
from binn_lite.heads import KANHead, MLPHead
from binn_lite.relationships import curve_agreement, curve_correlation, retrieval_score

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
    assert curve_correlation(edge["value"], edge["x"] ** 2) > 0.98
    agreement = curve_agreement(curves, {("driver", "p"): lambda x: x**2})
    assert agreement["correlation"].iloc[0] > 0.98
    for method in ("std", "pykan"):
        importance = interpret.kan_importance(head, X, names=NAMES, out_names=["p"], method=method)
        assert list(importance.index) == NAMES and list(importance.columns) == ["p"]
        ranked = importance["p"].sort_values(ascending=False)
        assert ranked.index[0] == "driver"
        assert ranked.iloc[0] > 50 * ranked.iloc[1]
    table, summary = retrieval_score(importance, {"p": ["driver"]})
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
