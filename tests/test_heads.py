"""Tests for binn_lite.heads: constraints, MLPHead, KANHead (penalties, pruning, no side effects)."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from binn_lite.heads import HardSigmoid, KANHead, MLPHead, Sigmoid, make_constraint


# ---------------------------------------------------------------------------------------------
# constraints
# ---------------------------------------------------------------------------------------------
def test_sigmoid_range_and_temperature():
    u = torch.linspace(-50, 50, 101)
    p = Sigmoid()(u)
    assert p.min() >= 0 and p.max() <= 1
    assert Sigmoid()(torch.tensor(0.0)).item() == 0.5
    # temperature 2 halves the slope: sigmoid(2 / 2) = sigmoid(1)
    assert Sigmoid(temperature=2.0)(torch.tensor(2.0)).item() == pytest.approx(1 / (1 + math.exp(-1)), rel=1e-6)
    assert Sigmoid(temperature=2.0)(torch.tensor(2.0)) < Sigmoid(temperature=1.0)(torch.tensor(2.0))
    assert Sigmoid(temperature=0.5).penalty(torch.full((3, 2), 100.0)).item() == 0.0
    q = torch.tensor([0.1, 0.5, 0.9])
    assert torch.allclose(Sigmoid(3.0)(Sigmoid(3.0).inverse(q)), q, atol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        Sigmoid(temperature=0.0)


def test_hard_sigmoid_values_and_penalty():
    hs = HardSigmoid()
    u = torch.tensor([-4.0, -3.0, 0.0, 1.5, 3.0, 4.0])
    assert hs(u).tolist() == pytest.approx([0.0, 0.0, 0.5, 0.75, 1.0, 1.0])
    assert hs.penalty(torch.linspace(-3, 3, 61)).item() == 0.0
    # mean(relu(|u| - 3)^2): (4-3)^2 = 1 and (5-3)^2 = 4 over 4 elements -> 5/4
    outside = torch.tensor([4.0, -5.0, 0.0, 2.9], requires_grad=True)
    pen = hs.penalty(outside)
    assert pen.item() == pytest.approx(1.25)
    pen.backward()
    # d/du mean(...) = 2 (|u|-3) sign(u) / 4 -> pushes u back inside
    assert outside.grad.tolist() == pytest.approx([0.5, -1.0, 0.0, 0.0])
    q = torch.tensor([0.0, 0.25, 1.0])
    assert torch.allclose(hs(hs.inverse(q)), q)


def test_make_constraint():
    assert isinstance(make_constraint("sigmoid"), Sigmoid)
    assert isinstance(make_constraint("hard_sigmoid"), HardSigmoid)
    custom = Sigmoid(4.0)
    assert make_constraint(custom) is custom
    with pytest.raises(ValueError, match="constraint"):
        make_constraint("relu")


# ---------------------------------------------------------------------------------------------
# MLP head
# ---------------------------------------------------------------------------------------------
def test_mlp_shape_range_architecture():
    head = MLPHead(10, 4, seed=1)
    x = torch.randn(32, 10) * 5
    p = head(x)
    assert p.shape == (32, 4)
    assert (p > 0).all() and (p < 1).all()
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(10, 128), (128, 128), (128, 128), (128, 4)]
    assert sum(isinstance(m, torch.nn.LeakyReLU) for m in head.modules()) == 3
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in head.modules())
    assert head.penalty().item() == 0.0  # sigmoid: nothing to penalise
    assert torch.equal(head.preactivation(x).sigmoid(), p)
    assert head.n_inputs == 10 and head.n_outputs == 4


def test_mlp_batch_norm_option():
    head = MLPHead(6, 3, batch_norm=True, seed=0)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in head.modules()) == 3
    x = torch.randn(64, 6)
    head.train()
    head(x)
    bn = next(m for m in head.modules() if isinstance(m, torch.nn.BatchNorm1d))
    assert bn.num_batches_tracked.item() == 1
    head.eval()
    single = head(x[:1])  # eval mode: running statistics, works for one site
    assert single.shape == (1, 3)
    assert torch.allclose(single, head(x)[:1], atol=1e-6)


def test_mlp_hard_sigmoid_penalty_and_seed():
    head = MLPHead(5, 2, constraint="hard_sigmoid", lamb_bound=2.0, seed=3)
    with torch.no_grad():
        head.net[-1].bias.fill_(10.0)  # push u far outside [-3, 3]
    x = torch.zeros(4, 5)
    p = head(x)
    assert torch.all(p == 1.0)
    u = head.preactivation(x)
    expected = 2.0 * torch.relu(u.abs() - 3).pow(2).mean()
    pen = head.penalty()
    assert pen.item() == pytest.approx(expected.item(), rel=1e-6) and pen.item() > 0
    pen.backward()
    assert head.net[-1].bias.grad.abs().sum() > 0

    snapshot = copy.deepcopy(head)  # after forward + penalty: the cached u is part of a graph
    assert torch.equal(snapshot(x), head(x))

    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a, b, c = MLPHead(5, 2, seed=7), MLPHead(5, 2, seed=7), MLPHead(5, 2, seed=8)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    x = torch.randn(3, 5)
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


def test_heads_reject_bad_input():
    head = MLPHead(3, 2)
    with pytest.raises(ValueError, match=r"\[batch, 3\]"):
        head(torch.zeros(4, 5))
    bad = torch.zeros(4, 3)
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="row 2, column 1"):
        head(bad)
    with pytest.raises(RuntimeError, match="call the head"):
        MLPHead(3, 2).penalty()


# ---------------------------------------------------------------------------------------------
# KAN head
# ---------------------------------------------------------------------------------------------
def test_kan_output_range_and_zero_penalty():
    head = KANHead(10, 4, seed=0)
    x = torch.randn(200, 10) * 3
    p = head(x)
    assert p.shape == (200, 4)
    assert (p >= 0).all() and (p <= 1).all()
    pen = head.penalty()
    assert pen.shape == () and pen.item() == 0.0
    # ScIReN defaults: one layer, grid 30, cubic, identity base, grid on [-3, 3]
    assert head.kan.width == [[10, 0], [4, 0]]
    layer = head.kan.act_fun[0]
    assert layer.num == 30 and layer.k == 3
    assert isinstance(layer.base_fun, torch.nn.Identity)
    low, high = head.input_bounds()
    assert torch.allclose(low, torch.full((10,), -3.0)) and torch.allclose(high, torch.full((10,), 3.0))
    assert head.kan.auto_save is False and head.kan.symbolic_enabled is False
    # inputs are clamped to the grid: far-out covariates give the edge value at the boundary
    far = torch.zeros(1, 10)
    far[0, 0] = 50.0
    edge = torch.zeros(1, 10)
    edge[0, 0] = 3.0
    assert torch.allclose(head(far), head(edge))


def test_kan_penalties_match_definitions_and_are_differentiable():
    head = KANHead(10, 4, lamb_l1=0.3, lamb_entropy=0.2, lamb_smooth=0.1, constraint="hard_sigmoid",
                   lamb_bound=0.5, seed=1)
    x = torch.randn(128, 10)
    head(x)
    pen = head.penalty()
    # pykan's own regulariser for the L1 + entropy part, on the same forward pass
    pykan_reg = head.kan.reg("edge_forward_spline_n", 0.3, 0.2, 0.0, 0.0)
    expected = pykan_reg + 0.1 * head.smoothness_penalty() + 0.5 * HardSigmoid().penalty(head.preactivation(x))
    assert pen.item() == pytest.approx(expected.item(), rel=1e-5)
    assert pen.item() > 0
    l1, entropy = head.sparsity_penalty()
    assert l1.item() > 0 and entropy.item() > 0
    pen.backward()
    layer = head.kan.act_fun[0]
    assert layer.coef.grad.abs().sum() > 0 and layer.scale_sp.grad.abs().sum() > 0


def test_kan_smoothness_penalty_exact():
    head = KANHead(2, 1, grid=10, k=3, grid_range=(-1.0, 1.0), lamb_smooth=1.0, seed=0)
    layer = head.kan.act_fun[0]
    n_basis = layer.coef.shape[-1]  # grid + k = 13
    m = torch.arange(n_basis, dtype=torch.float32)
    with torch.no_grad():
        layer.scale_sp.fill_(1.0)
        layer.coef.copy_((3.0 * m - 1.0).expand_as(layer.coef))  # linear in the knot index
    assert head.smoothness_penalty().item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        layer.coef.copy_((m**2).expand_as(layer.coef))  # second difference = 2 everywhere
    h = 2.0 / 10
    expected = (n_basis - 2) * (2.0 / h**2) ** 2 * h  # same for every edge, so also the mean
    assert head.smoothness_penalty().item() == pytest.approx(expected, rel=1e-5)
    head(torch.zeros(3, 2))
    assert head.penalty().item() == pytest.approx(expected, rel=1e-5)


def test_kan_hard_sigmoid_bound_penalty():
    head = KANHead(3, 2, constraint="hard_sigmoid", lamb_bound=1.0, seed=0)
    x = torch.randn(50, 3)
    head(x)
    u = head.preactivation(x)
    assert u.abs().max() < 3  # fresh KAN: inside the linear band
    assert head.penalty().item() == 0.0
    with torch.no_grad():
        head.kan.act_fun[0].scale_base.fill_(10.0)
    head(x)
    assert head.penalty().item() > 0


def test_kan_two_layer_and_float64():
    head = KANHead(4, 2, hidden=3, grid=5, lamb_l1=0.01, seed=0).double()
    x = torch.randn(40, 4, dtype=torch.float64)
    p = head(x)
    assert head.kan.width == [[4, 0], [3, 0], [2, 0]] and head.depth == 2
    assert p.dtype == torch.float64 and p.shape == (40, 2)
    assert head.penalty().dtype == torch.float64 and head.penalty().item() > 0
    head.refine(x, 8)
    assert head.kan.act_fun[0].coef.shape[-1] == 8 + 3 and head(x).dtype == torch.float64


def test_kan_seed_determinism_and_deepcopy():
    x = torch.randn(16, 5)
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    a, b, c = KANHead(5, 2, seed=4), KANHead(5, 2, seed=4), KANHead(5, 2, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # pykan's manual_seed did not leak
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))
    a_copy = copy.deepcopy(a)  # after a forward pass pykan holds non-leaf tensors
    with torch.no_grad():
        a_copy.kan.act_fun[0].coef.add_(1.0)
    assert torch.equal(a(x), b(x)) and not torch.equal(a_copy(x), a(x))


def test_kan_prune_with_auto_save_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = torch.randn(300, 6)
    # one layer: make 3 edges exactly dead; pruning masks exactly those
    head = KANHead(6, 3, seed=2)
    dead = [(0, 0), (2, 1), (5, 2)]
    with torch.no_grad():
        for i, j in dead:
            head.kan.act_fun[0].coef[i, j] = 0.0
            head.kan.act_fun[0].scale_base[i, j] = 0.0
    assert head.n_active_edges() == 18
    head.prune(x, edge_th=1e-3)
    assert head.n_active_edges() == 15
    mask = head.kan.act_fun[0].mask
    assert all(mask[i, j] == 0 for i, j in dead)
    assert head(x).shape == (300, 3)
    # two layers: a hidden node with no outgoing edges is removed (pykan's prune_node path)
    head2 = KANHead(6, 3, hidden=4, grid=5, seed=2)
    with torch.no_grad():
        head2.kan.act_fun[1].mask[1, :] = 0.0
    head2.prune(x, node_th=1e-2, edge_th=0.0)
    assert head2.kan.width == [[6, 0], [3, 0], [3, 0]]
    assert head2.kan.auto_save is False
    assert head2(x).shape == (300, 3) and head2.n_inputs == 6 and head2.n_outputs == 3
    assert list(tmp_path.iterdir()) == []


def test_kan_no_files_and_no_output(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    x = torch.randn(100, 3)
    head = KANHead(3, 2, grid=5, lamb_l1=0.01, lamb_entropy=0.01, lamb_smooth=0.01, seed=0)
    opt = torch.optim.Adam(head.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        loss = head(x).pow(2).mean() + head.penalty()
        loss.backward()
        opt.step()
    head.update_grid(x)
    head.attribution(x)
    head.refine(x, 8)
    symbolic = head.copy().auto_symbolic(x, lib=("x", "x^2"))
    formulas = symbolic.symbolic_formula(names=["a", "b", "c"])
    assert len(formulas) == 2 and {s.name for s in formulas[0].free_symbols} <= {"a", "b", "c"}
    head.prune(x)
    two = KANHead(3, 2, hidden=2, grid=5, seed=0)
    with pytest.raises(ValueError, match="every node of hidden layer 1"):
        two.prune(x, node_th=10.0)
    two.prune(x)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert list(tmp_path.iterdir()) == []


def test_kan_verbose_lets_pykan_talk(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    x = torch.randn(50, 2)
    head = KANHead(2, 1, grid=5, seed=0, verbose=True)
    head.auto_symbolic(x, lib=("x",))
    assert "fixing" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
