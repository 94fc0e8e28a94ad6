"""binn_lite.q10: the Q10 respiration hybrid; and the plug-in interface shared by CLM5, Q10 and the two-pool model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5
from binn_lite.dataset import SiteDataset
from binn_lite.heads import MLPHead
from binn_lite.metrics import recovery_table
from binn_lite.partial_dependence import pd_importance
from binn_lite.process import ProcessModel
from binn_lite.q10 import Q10Respiration, TemperatureForcing, make_q10_synthetic
from binn_lite.relationships import retrieval_score
from binn_lite.train import fit
from binn_lite.two_pool import TwoPoolSoilCarbon
from clm5_factory import make_forcing


@pytest.mark.parametrize("model", [CLM5(), Q10Respiration(), TwoPoolSoilCarbon()], ids=lambda m: type(m).__name__)
def test_every_model_implements_the_interface(model):
    assert isinstance(model, ProcessModel)
    table = model.parameter_table
    assert len(table) >= 2 and all(p.unit for p in table)
    forcing = make_forcing(3) if not isinstance(model, Q10Respiration) else TemperatureForcing(
        torch.linspace(-5.0, 25.0, 30).repeat(3, 1))
    params = table.defaults_like(3)
    coords = torch.tensor([[0.0, 1.0, float("nan")]] * 3) if isinstance(model, Q10Respiration) else \
        torch.tensor([[0.05, 0.3, float("nan")]] * 3)
    pred = model.predict(params, forcing, coords)
    assert pred.shape == (3, 3) and torch.isfinite(pred[:, :2]).all() and torch.isnan(pred[:, 2]).all()
    assert (pred[:, :2] > 0).all()


# -- Q10 -----------------------------------------------------------------------------------------
def test_q10_formula_and_observation_by_day():
    forcing = TemperatureForcing(torch.tensor([[5.0, 15.0, 25.0, 35.0]], dtype=torch.float64))
    reco = Q10Respiration()(torch.tensor([[2.0, 3.0]], dtype=torch.float64), forcing)
    torch.testing.assert_close(reco, torch.tensor([[2.0 / 3.0, 2.0, 6.0, 18.0]], dtype=torch.float64))
    picked = Q10Respiration().observe(reco, torch.tensor([[3.0, 0.0, float("nan")]], dtype=torch.float64))
    torch.testing.assert_close(picked[:, :2], torch.tensor([[18.0, 2.0 / 3.0]], dtype=torch.float64))
    assert torch.isnan(picked[0, 2])
    with pytest.raises(ValueError, match="integer in 0..3"):
        Q10Respiration().observe(reco, torch.tensor([[1.5]]))
    with pytest.raises(ValueError, match="integer in 0..3"):
        Q10Respiration().observe(reco, torch.tensor([[4.0]]))


def test_temperature_forcing_checks_and_indexing():
    with pytest.raises(ValueError, match="kelvin"):
        TemperatureForcing(torch.full((2, 5), 290.0))
    with pytest.raises(ValueError, match="non-finite value at site 1"):
        TemperatureForcing(torch.tensor([[1.0], [float("nan")]]))
    with pytest.raises(ValueError, match="shape"):
        TemperatureForcing(torch.zeros(3))
    f = TemperatureForcing(torch.arange(12.0).reshape(4, 3))
    assert len(f) == 4 and f.n_days == 3
    assert torch.equal(f[np.array([3, 1])].temperature, torch.tensor([[9.0, 10.0, 11.0], [3.0, 4.0, 5.0]]))
    assert f.to(dtype=torch.float64).temperature.dtype == torch.float64


def test_q10_synthetic_truth_matches_observations_without_noise():
    ds = make_q10_synthetic(20, q10=1.8, noise=0.0, n_days=100, obs_per_site=10, seed=4)
    assert isinstance(ds, SiteDataset) and len(ds) == 20 and ds.truth.drivers == {"rb": ["leaf_area_index", "soil_moisture"]}
    assert (ds.truth.params["q10"] == 1.8).all()
    assert ds.truth.params["rb"].between(1.0 - 1e-9, 7.0 + 1e-9).all()
    expected = Q10Respiration().predict(torch.tensor(ds.truth.params.to_numpy()), ds.forcing, ds.coords)
    torch.testing.assert_close(ds.targets, expected)
    # the recorded relationship reproduces rb
    unit = ds.truth.evaluate(ds.sites)
    np.testing.assert_allclose(10.0 * unit["rb"], ds.truth.params["rb"])


def test_q10_fit_recovers_global_q10_and_rb():
    ds = make_q10_synthetic(150, q10=1.5, noise=0.05, seed=0)
    binn = BINN(MLPHead(4, 1, hidden=(32, 32)), Q10Respiration(), learn=["rb"], global_params=["q10"])
    assert binn.global_values()["q10"] == pytest.approx(2.5)  # starts at the middle of the range
    result = fit(binn, ds, epochs=150, batch_size=64, lr=1e-2, patience=150, progress=False)
    assert result.best_val_nse > 0.97
    assert binn.global_values()["q10"] == pytest.approx(1.5, rel=0.03)
    params, _ = binn.predict_dataset(ds)
    assert recovery_table(params[["rb"]], ds.truth.params).loc["rb", "r2"] > 0.95
    assert params["q10"].nunique() == 1
    # interpretation works unchanged: partial dependence of the head finds rb's two drivers
    importance = pd_importance(binn.head, binn.features(ds), names=ds.feature_names, out_names=binn.learned)
    _, summary = retrieval_score(importance, ds.truth.drivers)
    assert summary["text"] == "2/2"
