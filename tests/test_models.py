"""The plug-in interface: CLM5, the Q10 respiration hybrid and the two-pool model under one BINN."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import binn_lite.two_pool
from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5
from binn_lite.data import make_synthetic
from binn_lite.dataset import SiteDataset, Truth
from binn_lite.heads import MLPHead
from binn_lite.interpret import pd_importance, retrieval_score
from binn_lite.metrics import recovery_table
from binn_lite.models import Q10Respiration, TemperatureForcing, make_q10_synthetic
from binn_lite.process import ProcessModel
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


# -- two-pool ------------------------------------------------------------------------------------
def test_two_pool_is_a_short_template():
    lines = Path(binn_lite.two_pool.__file__).read_text().splitlines()
    assert len(lines) < 40


def test_two_pool_steady_state_by_hand():
    forcing = make_forcing(1, dtype=torch.float64)
    model = TwoPoolSoilCarbon()
    values = {"tau_fast": 2.0, "tau_slow": 100.0, "humification": 0.3, "efolding": 0.5, "input_depth": 0.2}
    soc = model(model.parameter_table.stack({k: torch.tensor([v], dtype=torch.float64) for k, v in values.items()}),
                forcing)
    from binn_lite.clm5 import DZ, ZSOI
    share = torch.exp(-ZSOI / 0.2) * DZ
    inputs = forcing.litter_input.sum() * share / share.sum() / DZ  # gC m-3 yr-1
    xi = (2.0 ** ((forcing.soil_temperature[0] - 298.15) / 10)).mean(0) * torch.exp(-ZSOI / 0.5)
    fast, slow = inputs * 2.0 / xi, 0.3 * inputs * 100.0 / xi  # I / k_f and h I / k_s
    torch.testing.assert_close(soc[0], fast + slow)
    # mass balance: respiration k_s S + (1 - h) k_f F equals the input in every layer
    torch.testing.assert_close(xi / 100.0 * slow + 0.7 * xi / 2.0 * fast, inputs)


def test_two_pool_binn_fit_recovers_efolding():
    base = make_synthetic(120, seed=8, noise=0.0)
    model = TwoPoolSoilCarbon()
    z = ((base.sites["bio12"] - base.sites["bio12"].mean()) / base.sites["bio12"].std()).to_numpy()
    params = model.parameter_table.defaults_like(len(base))
    params[:, model.parameter_table.index("efolding")] = torch.from_numpy(0.2 + 0.6 / (1 + np.exp(-2 * z)))
    with torch.no_grad():
        soc = model.predict(params, base.forcing, base.coords)
    observations = pd.DataFrame({"site_id": np.repeat(base.site_ids.to_numpy(), base.coords.shape[1]),
                                 "depth_m": base.coords.reshape(-1).numpy(), "soc_gC_m3": soc.reshape(-1).numpy()})
    truth = Truth("two_pool", pd.DataFrame(params.numpy(), index=base.site_ids, columns=model.parameter_table.names))
    ds = SiteDataset(base.sites, observations.dropna(), base.forcing, base.feature_names, truth)

    binn = BINN(MLPHead(10, 1, hidden=(32, 32)), model, learn=["efolding"])
    result = fit(binn, ds, np.arange(100), epochs=30, batch_size=25, lr=1e-2, loss="log", patience=30, progress=False)
    assert result.history["train_loss"].iloc[-1] < 0.05 * result.history["train_loss"].iloc[0]
    test = ds.subset(np.arange(100, 120))
    estimated, _ = binn.predict_dataset(test)
    assert recovery_table(estimated[["efolding"]], test.truth.params).loc["efolding", "r2"] > 0.9
