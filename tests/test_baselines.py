"""Baselines: the pure neural network and one global parameter set."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from binn_lite.baselines import NodeProfile, fit_global, pure_nn
from binn_lite.binn import BINN
from binn_lite.clm5 import MOST_INFLUENTIAL
from binn_lite.data import make_synthetic
from binn_lite.metrics import nse
from binn_lite.train import fit
from binn_factory import FOUR, with_observations


# ---------------------------------------------------------------------------------------------
# Pure neural network
# ---------------------------------------------------------------------------------------------
def test_node_profile_is_ten_to_the_parameters_interpolated_like_clm5():
    model = NodeProfile(-1.0, 6.0)
    assert len(model.parameter_table) == 20
    assert model.parameter_table.names[0] == "log10_soc_01"
    params = torch.linspace(4.0, 2.1, 20, dtype=torch.float64).expand(2, -1)
    soc = model(params, None)
    assert torch.allclose(soc, 10.0 ** params)
    depths = torch.tensor([[0.01, 0.025, float("nan")], [8.03, 20.0, 0.0]], dtype=torch.float64)
    out = model.observe(soc, depths)
    assert out[0, 0] == pytest.approx(10 ** 4.0)
    assert out[0, 1] == pytest.approx(0.5 * (10 ** 4.0 + 10 ** params[0, 1].item()))  # half-way 0.01..0.04
    assert math.isnan(out[0, 2])
    assert out[1, 0] == pytest.approx(10 ** 2.1) and out[1, 1] == pytest.approx(10 ** 2.1)
    assert out[1, 2] == pytest.approx(10 ** 4.0)
    with pytest.raises(ValueError, match="20"):
        model(torch.zeros(2, 19), None)
    with pytest.raises(ValueError, match="log10_high"):
        NodeProfile(3.0, 3.0)


def test_pure_nn_learns_a_simple_profile(tmp_path):
    ds = make_synthetic(48, seed=4, noise=0.0)
    net = pure_nn(len(ds.feature_names), hidden=(64, 64), seed=0)
    train, val = np.arange(40), np.arange(40, 48)
    fit(net, ds, train, val, epochs=400, patience=400, lr=1e-2, batch_size=40, loss="log", progress=False)
    params, soc = net.predict_dataset(ds.subset(train))
    assert nse(soc, ds.subset(train).soc) > 0.9
    assert nse(torch.log(soc), torch.log(ds.subset(train).soc)) > 0.9
    assert list(params.columns) == [f"log10_soc_{i:02d}" for i in range(1, 21)]
    # saved and loaded like any BINN
    again = BINN.load(net.save(tmp_path / "pure_nn.pt"))
    assert isinstance(again.process_model, NodeProfile)
    torch.testing.assert_close(again.predict_dataset(ds.subset(train))[1], soc, equal_nan=True)


# ---------------------------------------------------------------------------------------------
# One global parameter set
# ---------------------------------------------------------------------------------------------
def test_global_fit_recovers_one_parameter_set_for_all_sites():
    base = make_synthetic(24, seed=3, noise=0.0)
    truth = torch.tensor([0.3, 0.6, 0.4, 0.7], dtype=torch.float64)
    ds = with_observations(base, truth.expand(len(base), -1))
    binn, result = fit_global(ds, np.arange(20), np.arange(20, 24), epochs=300, patience=300, lr=0.05,
                              dtype=torch.float64)
    found = torch.tensor([binn.global_values()[p] for p in MOST_INFLUENTIAL], dtype=torch.float64)
    assert torch.allclose(FOUR.to_unit(found), truth, atol=0.05), FOUR.to_unit(found)
    assert result.best_val_nse > 0.999
    assert binn.learned == () and binn.global_names == MOST_INFLUENTIAL
