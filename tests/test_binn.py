"""The BINN wrapper: parameter assembly, gradients through CLM5, prediction (saving: test_checkpoints)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL
from binn_lite.data import make_synthetic
from binn_lite.errors import BinnInputError
from binn_lite.heads import MLPHead
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
    unit = binn.unit_outputs(x)  # the same chain in two steps, as fit takes it
    assert unit.shape == (5, 2)
    torch.testing.assert_close(binn.parameters_from_unit(unit), binn.parameters_from(x))


def test_presets_and_bad_specifications():
    assert BINN(MLPHead(3, 4), CLM5(), learn="most_influential").learned == MOST_INFLUENTIAL
    assert BINN(MLPHead(3, 21), CLM5()).learned == CLM5_PARAMETERS.names
    assert BINN(MLPHead(3, 20), CLM5(), global_params=["q10"]).learned == tuple(
        n for n in CLM5_PARAMETERS.names if n != "q10")
    assert BINN(MLPHead(3, 3), TwoPoolSoilCarbon(), learn="most_influential").learned == (
        "tau_slow", "efolding", "input_depth")
    with pytest.raises(BinnInputError, match="n_outputs=3 but the BINN learns 4"):
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
