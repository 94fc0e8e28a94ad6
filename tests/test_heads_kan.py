"""The KAN head: output range, penalties, two layers, seeding, pruning, refinement, symbolic formulas, and
that pykan writes no files and prints nothing."""
from __future__ import annotations

import copy

import pytest
import torch

from binn_lite.heads import HardSigmoid, KANHead


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
