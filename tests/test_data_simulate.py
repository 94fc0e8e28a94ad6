"""simulate_observations: any process model observed at NaN-padded coordinates, with log-normal noise."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from binn_lite.data import make_synthetic, simulate_observations
from binn_lite.dataset import SiteDataset
from binn_lite.two_pool import TwoPoolSoilCarbon


@pytest.fixture(scope="module")
def base() -> SiteDataset:
    return make_synthetic(150, seed=5, noise=0.0)


@pytest.fixture(scope="module")
def model() -> TwoPoolSoilCarbon:
    return TwoPoolSoilCarbon()


def test_without_noise_values_are_the_predictions(base, model):
    params = model.parameter_table.defaults_like(len(base))
    observations = simulate_observations(model, params, base.forcing, base.coords, base.site_ids, noise=0.0)
    with torch.no_grad():
        predicted = model.predict(params, base.forcing, base.coords)
    observed = ~torch.isnan(base.coords)
    assert list(observations.columns) == ["site_id", "depth_m", "soc_gC_m3"]
    assert len(observations) == int(observed.sum())
    np.testing.assert_array_equal(observations["soc_gC_m3"], predicted[observed].numpy())
    np.testing.assert_array_equal(observations["depth_m"], base.coords[observed].numpy())
    np.testing.assert_array_equal(observations["site_id"], np.repeat(base.site_ids.to_numpy(), base.n_obs.numpy()))
    # straight into a SiteDataset: its targets are the predictions
    ds = SiteDataset(base.sites, observations, base.forcing, base.feature_names)
    torch.testing.assert_close(ds.targets, predicted, equal_nan=True)


def test_noise_is_multiplicative_log_normal_and_seeded(base, model):
    params = model.parameter_table.defaults_like(len(base))
    args = (model, params, base.forcing, base.coords, base.site_ids)
    clean = simulate_observations(*args, noise=0.0)["soc_gC_m3"].to_numpy()
    noisy = simulate_observations(*args, noise=0.1, seed=3)["soc_gC_m3"].to_numpy()
    log_ratio = np.log(noisy / clean)
    assert len(log_ratio) > 800
    assert abs(log_ratio.mean()) < 0.01 and 0.093 < log_ratio.std() < 0.107
    again = simulate_observations(*args, noise=0.1, seed=np.random.default_rng(3))["soc_gC_m3"].to_numpy()
    np.testing.assert_array_equal(again, noisy)
    other = simulate_observations(*args, noise=0.1, seed=4)["soc_gC_m3"].to_numpy()
    assert not np.allclose(other, noisy)


def test_nan_coordinates_give_no_row(base, model):
    sites = base.subset([0, 1, 2])
    nan = float("nan")
    coords = torch.tensor([[0.1, nan, 0.5], [nan, nan, nan], [0.3, 0.2, nan]], dtype=torch.float64)
    params = model.parameter_table.defaults_like(3)
    observations = simulate_observations(model, params, sites.forcing, coords, ["a", "b", "c"],
                                         coord_name="z", value_name="carbon")
    assert list(observations.columns) == ["site_id", "z", "carbon"]
    assert observations["site_id"].tolist() == ["a", "a", "c", "c"]
    assert observations["z"].tolist() == [0.1, 0.5, 0.3, 0.2]  # the order of coords, not sorted
    assert np.isfinite(observations["carbon"]).all()


def test_clear_errors(base, model):
    sites = base.subset([0, 1, 2])
    params = model.parameter_table.defaults_like(3)
    coords = sites.coords
    with pytest.raises(ValueError, match=r"coords has 3 sites \(rows\) but site_ids has 2"):
        simulate_observations(model, params, sites.forcing, coords, ["a", "b"])
    with pytest.raises(ValueError, match=r"but params has 2, forcing has 150"):
        simulate_observations(model, params[:2], base.forcing, coords, ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"coords must have shape \[n_sites, n_obs\]"):
        simulate_observations(model, params, sites.forcing, coords[0], ["a", "b", "c"])
    with pytest.raises(ValueError, match="noise must be"):
        simulate_observations(model, params, sites.forcing, coords, ["a", "b", "c"], noise=-0.1)
    broken = params.clone()
    broken[1, 0] = float("nan")
    with pytest.raises(ValueError, match="value of 'tau_fast' must be finite and in .*; site 1 has nan"):
        simulate_observations(model, broken, sites.forcing, coords, ["a", "b", "c"])
