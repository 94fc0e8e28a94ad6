"""Output constraints: sigmoid with temperature, ScIReN's hard sigmoid and its penalty."""
from __future__ import annotations

import math

import pytest
import torch

from binn_lite.heads import HardSigmoid, Sigmoid, make_constraint


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
