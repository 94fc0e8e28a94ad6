"""The BINN wrapper: parameter assembly, gradients through CLM5, prediction, save/load."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL
from binn_lite.data import make_synthetic
from binn_lite.heads import KANHead, MLPHead
from binn_lite.q10 import Q10Respiration
from binn_lite.two_pool import TwoPoolSoilCarbon


@pytest.fixture(scope="module")
def data():
    return make_synthetic(24, seed=5)


def test_parameters_from_puts_learned_fixed_and_global_columns_in_place():
    head = MLPHead(10, 2, hidden=(8,))
    binn = BINN(head, CLM5(), learn=["tau_s3", "efolding"], fixed={"beta": 0.9}, global_params=["q10"])
    x = torch.randn(5, 10)
    theta = binn.parameters_from(x)
    assert theta.shape == (5, 21) and theta.dtype == torch.float32
    unit = head(x)
    named = CLM5_PARAMETERS.as_dict(theta)
    torch.testing.assert_close(named["tau_s3"], 20.0 + unit[:, 0] * 380.0)
    torch.testing.assert_close(named["efolding"], 0.1 + unit[:, 1] * 0.9)
    torch.testing.assert_close(named["beta"], torch.full((5,), 0.9))
    torch.testing.assert_close(named["q10"], torch.full((5,), 2.1))  # global, starts at the default
    torch.testing.assert_close(named["tau_s2"], torch.full((5,), 5.5))  # fixed at the default
    assert binn.learned == ("tau_s3", "efolding") and binn.global_names == ("q10",)
    assert len(binn.fixed_names) == 18
    binn.set_global("q10", 1.5)
    assert binn.global_values() == pytest.approx({"q10": 1.5})


def test_presets_and_bad_specifications():
    assert BINN(MLPHead(3, 4), CLM5(), learn="most_influential").learned == MOST_INFLUENTIAL
    assert BINN(MLPHead(3, 21), CLM5()).learned == CLM5_PARAMETERS.names
    assert BINN(MLPHead(3, 20), CLM5(), global_params=["q10"]).learned == tuple(
        n for n in CLM5_PARAMETERS.names if n != "q10")
    assert BINN(MLPHead(3, 3), TwoPoolSoilCarbon(), learn="most_influential").learned == (
        "tau_slow", "efolding", "input_depth")
    with pytest.raises(ValueError, match="n_outputs=3 but the BINN learns 4"):
        BINN(MLPHead(3, 3), CLM5(), learn="most_influential")
    with pytest.raises(ValueError, match="unknown parameter.*'tau_s4'"):
        BINN(MLPHead(3, 1), CLM5(), learn=["tau_s4"])
    with pytest.raises(ValueError, match="both"):
        BINN(MLPHead(3, 1), CLM5(), learn=["q10"], global_params=["q10"])
    with pytest.raises(ValueError, match="is learned by the head"):
        BINN(MLPHead(3, 1), CLM5(), learn=["q10"], fixed={"q10": 2.0})
    with pytest.raises(ValueError, match="strictly inside"):
        BINN(MLPHead(3, 1), Q10Respiration(), learn=["rb"], global_params=["q10"], fixed={"q10": 1.0})


def test_gradient_reaches_every_head_weight_through_clm5(data):
    binn = BINN(MLPHead(10, 4, hidden=(16, 16)), CLM5(), learn="most_influential")
    binn.normalizer = data.fit_normalizer()
    x = binn.features(data)
    soc = binn.predict(x, data.forcing.to(dtype=torch.float32), data.coords.float())
    mask = torch.isfinite(data.targets)
    loss = ((soc - data.targets.float())[mask] ** 2).mean()
    loss.backward()
    for name, p in binn.head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_global_parameter_gets_a_gradient(data):
    binn = BINN(MLPHead(10, 4, hidden=(8,)), CLM5(), learn="most_influential", global_params=["q10"])
    binn.normalizer = data.fit_normalizer()
    soc = binn(binn.features(data), data.forcing.to(dtype=torch.float32))
    soc.sum().backward()
    assert binn.global_logits.grad is not None and binn.global_logits.grad.abs().item() > 0


def test_predict_dataset(data):
    binn = BINN(MLPHead(10, 4, hidden=(8,)), CLM5(), learn="most_influential")
    with pytest.raises(ValueError, match="no normalizer"):
        binn.predict_dataset(data)
    binn.normalizer = data.fit_normalizer()
    binn.train()
    params, pred = binn.predict_dataset(data, batch_size=7)
    assert binn.training  # mode restored
    assert list(params.index) == list(data.site_ids) and list(params.columns) == list(CLM5_PARAMETERS.names)
    assert pred.shape == data.targets.shape
    assert torch.equal(torch.isnan(pred), torch.isnan(data.coords))
    full = binn.predict(binn.features(data), data.forcing.to(dtype=torch.float32), data.coords.float())
    torch.testing.assert_close(pred, full.detach(), equal_nan=True, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(params["beta"], 0.74995)


@pytest.mark.parametrize("make_head", [
    lambda: MLPHead(10, 4, hidden=(16, 8), negative_slope=0.1, constraint="hard_sigmoid", seed=3),
    lambda: KANHead(10, 4, grid=5, constraint="hard_sigmoid", lamb_smooth=0.1, seed=3),
    lambda: KANHead(10, 4, hidden=3, grid=4, seed=3),
], ids=["mlp", "kan", "kan2"])
def test_save_load_round_trip(tmp_path, data, make_head):
    binn = BINN(make_head(), CLM5(), learn="most_influential", fixed={"beta": 0.8}, global_params=["q10"])
    binn.normalizer = data.fit_normalizer(np.arange(12))
    binn.set_global("q10", 1.7)
    with torch.no_grad():  # move the weights away from their initial values
        for p in binn.head.parameters():
            p.add_(0.01 * torch.randn_like(p))
    params, pred = binn.predict_dataset(data)
    path = binn.save(tmp_path / "sub" / "binn.pt")
    with pytest.raises(FileExistsError, match="binn.pt"):
        binn.save(path)
    binn.save(path, overwrite=True)

    loaded = BINN.load(path)
    assert type(loaded.head) is type(binn.head) and not loaded.training
    assert loaded.learned == binn.learned and loaded.global_names == ("q10",)
    assert loaded.global_values()["q10"] == pytest.approx(1.7)
    assert loaded.normalizer.to_dict() == binn.normalizer.to_dict()
    params2, pred2 = loaded.predict_dataset(data)
    torch.testing.assert_close(pred2, pred, equal_nan=True)
    np.testing.assert_allclose(params2.to_numpy(), params.to_numpy())
    assert params2["beta"].iloc[0] == pytest.approx(0.8)


def test_load_errors(tmp_path):
    binn = BINN(MLPHead(3, 1, hidden=(4,)), TwoPoolSoilCarbon(), learn=["efolding"])
    path = binn.save(tmp_path / "two_pool.pt")
    assert BINN.load(path).process_model.parameter_table.names == TwoPoolSoilCarbon.parameter_table.names
    with pytest.raises(ValueError, match="differ"):
        BINN.load(path, process_model=CLM5())
    with pytest.raises(FileNotFoundError):
        BINN.load(tmp_path / "missing.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a saved binn_lite BINN"):
        BINN.load(tmp_path / "other.pt")
