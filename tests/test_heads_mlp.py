"""The MLP head: architecture, batch norm, hard-sigmoid penalty, seeding, input checks (the Head base)."""
from __future__ import annotations

import copy

import pytest
import torch

from binn_lite.heads import MLPHead


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
