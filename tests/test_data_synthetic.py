"""The synthetic CLM5 world: sites, covariates, forcing, horizons, truth and noisy SOC (binn_lite.data.synthetic)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from binn_lite.clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL, ZSOI
from binn_lite.data import LAND_COVER_CLASSES, SCIREN_COVARIATES, TRUTH_FUNCTIONS, load_example, make_synthetic
from binn_lite.data.landscape import CONUS_BOUNDS, CONUS_OUTLINE, in_polygon
from binn_lite.data.synthetic import LITTER_RETURN


@pytest.fixture(scope="module")
def example():
    return load_example()


@pytest.fixture(scope="module")
def small():
    return make_synthetic(40, seed=7)


def test_reproducible_from_seed(small):
    again = make_synthetic(40, seed=7)
    pd.testing.assert_frame_equal(again.sites, small.sites)
    pd.testing.assert_frame_equal(again.observations, small.observations)
    pd.testing.assert_frame_equal(again.truth.params, small.truth.params)
    for name, array in small.forcing.to_numpy().items():
        np.testing.assert_array_equal(again.forcing.to_numpy()[name], array)
    other = make_synthetic(40, seed=8)
    assert not np.allclose(other.sites["lon"], small.sites["lon"])
    assert other.truth.drivers != small.truth.drivers or not np.allclose(other.soc[:, 0], small.soc[:, 0])


def test_sites_inside_conus_on_land(example):
    s = example.sites
    lon_lo, lon_hi = CONUS_BOUNDS["lon"]
    lat_lo, lat_hi = CONUS_BOUNDS["lat"]
    assert s["lon"].between(lon_lo, lon_hi).all() and s["lat"].between(lat_lo, lat_hi).all()
    assert in_polygon(s["lon"].to_numpy(), s["lat"].to_numpy(), CONUS_OUTLINE).all()
    # ocean corners stay empty: Gulf of Mexico, Atlantic off Georgia, Pacific off Baja California
    for lon_range, lat_range in [((-94.0, -84.0), (24.5, 28.5)), ((-79.0, -70.0), (28.0, 34.0)),
                                 ((-124.8, -119.0), (24.5, 32.0))]:
        inside = s["lon"].between(*lon_range) & s["lat"].between(*lat_range)
        assert not inside.any()


def test_covariates_physically_plausible(example):
    s = example.sites
    ranges = {"elevation": (0, 4500), "bio1": (-10, 26), "bio12": (100, 4000), "clay": (0, 70), "sand": (0, 100),
              "bulk_density": (0.8, 1.9), "wilting_point": (0.0, 0.45), "ph": (3.5, 9.5), "cec": (0.5, 80),
              "npp": (50, 1500), "veg_carbon": (20, 60000)}
    for column, (low, high) in ranges.items():
        assert s[column].between(low, high).all(), column
    assert (s["clay"] + s["sand"] <= 100).all()
    assert set(s["land_cover"]) == set(LAND_COVER_CLASSES)
    # colder north and at altitude, warmer south
    assert s["bio1"].corr(s["lat"]) < -0.5
    assert s.loc[s["lat"] > 45, "bio1"].mean() < s.loc[s["lat"] < 31, "bio1"].mean() - 8.0
    low_west = s[(s["lon"] < -104) & (s["lon"] > -112) & (s["lat"].between(35, 42))]
    high, low = low_west[low_west["elevation"] > 2000], low_west[low_west["elevation"] < 1500]
    assert high["bio1"].mean() < low["bio1"].mean() - 2.0
    # wet south-east and Pacific north-west, dry south-west
    south_east = s[(s["lon"] > -90) & (s["lat"] < 35)]["bio12"].median()
    south_west = s[(s["lon"].between(-117, -108)) & (s["lat"] < 37)]["bio12"].median()
    pacific_nw = s[(s["lon"] < -123) & (s["lat"] > 44)]["bio12"].median()
    assert south_east > 1100 and pacific_nw > 1500 and south_west < 500
    # spatial coherence: neighbours are alike (nearest-neighbour correlation of clay)
    xy = s[["lon", "lat"]].to_numpy()
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    nearest = d2.argmin(1)
    for column in ("clay", "ph", "bio12"):
        values = s[column].to_numpy()
        assert np.corrcoef(values, values[nearest])[0, 1] > 0.6, column


def test_forcing_consistent_with_covariates(example):
    f, s = example.forcing, example.sites
    t = f.soil_temperature.numpy() - 273.15  # [site, month, layer]
    surface_range = t[:, :, 0].max(1) - t[:, :, 0].min(1)
    deep_range = t[:, :, 9].max(1) - t[:, :, 9].min(1)
    assert np.all(deep_range < 0.7 * surface_range)  # damped with depth
    assert np.all(t[:, :, 0].argmax(1) == 6)  # July warmest at the surface
    assert np.mean(t[:, :, 9].argmax(1) != 6) > 0.9  # lagged at 1.4 m
    np.testing.assert_allclose(t[:, :, 0].mean(1), s["bio1"] + 1.0, atol=1.1)  # soil a bit warmer than air
    w = f.water_scalar.numpy()
    assert 0.0 < w.min() and w.max() <= 0.3 + 1e-6 and 0.1 < np.median(w) < 0.25
    assert np.mean(w * 4.0 >= 1.0) < 0.05  # w_scaling up to 4 rarely saturates xi_W = min(1, w w_scaling)
    assert (f.oxygen_scalar <= 1).all() and (f.nitrogen_scalar <= 1).all() and (f.nitrogen_scalar > 0).all()
    # litter: annual input = NPP x returned share; CWD only under forest and shrubland
    annual = f.litter_input.numpy().sum(1)
    share = s["land_cover"].map(LITTER_RETURN).to_numpy()
    np.testing.assert_allclose(annual.sum(1), s["npp"].to_numpy() * share, rtol=1e-5)
    woody = s["land_cover"].isin(["forest", "shrubland"]).to_numpy()
    assert np.all(annual[woody, 0] > 0) and np.all(annual[~woody, 0] == 0)
    # permafrost only in a minority of cold sites; everything else thawed through the column
    alt = f.altmax_lastyear.numpy()[:, 0]
    permafrost = alt <= 2.0
    assert 0 < permafrost.sum() < 0.05 * len(s)
    assert s.loc[permafrost, "bio1"].max() < 0.0
    assert np.all(f.altmax.numpy() <= alt[:, None] + 1e-6)
    # every observation lies above bedrock, with its neighbouring node
    deepest = np.nanmax(example.depth.numpy(), 1)
    last_node_above = ZSOI.numpy()[f.bedrock.numpy() - 1]
    assert np.all(deepest < last_node_above)


def test_observation_depths_like_real_horizons(example):
    n = example.n_obs.numpy()
    assert n.min() == 3 and n.max() == 10
    obs = example.observations
    bottom = obs.groupby("site_id")["bottom_m"].max()
    assert bottom.min() >= 0.3 and bottom.max() <= 2.0
    thickness = obs["bottom_m"] - obs["top_m"]
    assert (thickness > 0).all()
    np.testing.assert_allclose(obs["depth_m"], (obs["top_m"] + obs["bottom_m"]) / 2, atol=5e-4)
    first = obs.groupby("site_id").head(1)
    last = obs.groupby("site_id").tail(1)
    assert (thickness[first.index].to_numpy() < thickness[last.index].to_numpy()).mean() > 0.9  # denser near surface
    assert (obs.groupby("site_id")["top_m"].min() == 0).all()


def test_soc_magnitudes_realistic(example):
    surface = example.soc[:, 0].numpy()
    assert 20_000 < np.median(surface) < 80_000
    assert np.quantile(surface, 0.05) > 5_000 and surface.max() < 500_000
    deepest = example.soc[torch.arange(len(example)), example.n_obs - 1].numpy()
    assert np.median(deepest / surface) < 0.7  # less carbon at depth


def test_truth_relationships_respected(example):
    truth, sites = example.truth, example.sites
    assert truth.scenario == "sciren4" and truth.varying == MOST_INFLUENTIAL
    unit = truth.unit_params
    for param in CLM5_PARAMETERS.names:
        if param in MOST_INFLUENTIAL:
            assert len(truth.drivers[param]) == 2 and set(truth.drivers[param]) <= set(SCIREN_COVARIATES)
            assert unit[param].min() == pytest.approx(0.2, abs=1e-8)
            assert unit[param].max() == pytest.approx(0.8, abs=1e-8)
            assert unit[param].std() > 0.08
        else:
            np.testing.assert_allclose(unit[param], 0.5, atol=1e-9)
    # the stored parameters are the relationships evaluated at the sites' covariates
    np.testing.assert_allclose(truth.evaluate(sites)[list(CLM5_PARAMETERS.names)].to_numpy(),
                               unit[list(CLM5_PARAMETERS.names)].to_numpy(), atol=1e-8)
    # and each term is c f(a x + b) + d of the covariate z-scored over the sites
    for param, terms in truth.relationships.items():
        for term in terms:
            column = sites[term["covariate"]]
            assert term["mean"] == pytest.approx(column.mean()) and term["std"] == pytest.approx(column.std(ddof=0))
            assert term["f"] in TRUTH_FUNCTIONS
            assert all(-1 <= term[k] <= 1 for k in "abcd")
    # a notebook can draw the true curve along each driver
    param = MOST_INFLUENTIAL[0]
    first, second = truth.drivers[param]
    site = sites.index[17]
    u = truth.curve(param, first, [sites.loc[site, first]], at={second: sites.loc[site, second]})
    assert u[0] == pytest.approx(unit.loc[site, param], abs=1e-8)


def test_observations_are_clm5_at_depths_with_multiplicative_noise():
    clean = make_synthetic(60, seed=11, noise=0.0)
    noisy = make_synthetic(60, seed=11, noise=0.1)
    model = CLM5()
    params = torch.tensor(clean.truth.params[list(CLM5_PARAMETERS.names)].to_numpy())
    with torch.no_grad():
        simulated = model.observe(model(params, clean.forcing), clean.depth)
    torch.testing.assert_close(clean.soc, simulated, rtol=1e-6, atol=0.06, equal_nan=True)
    log_ratio = torch.log(noisy.soc / clean.soc).numpy()
    log_ratio = log_ratio[~np.isnan(log_ratio)]
    assert abs(log_ratio.mean()) < 0.02 and 0.085 < log_ratio.std() < 0.115


def test_all21_scenario_varies_every_parameter():
    ds = make_synthetic(80, seed=2, scenario="all21")
    unit = ds.truth.unit_params
    assert set(ds.truth.varying) == set(CLM5_PARAMETERS.names)
    np.testing.assert_allclose(unit.min(), 0.2, atol=1e-8)
    np.testing.assert_allclose(unit.max(), 0.8, atol=1e-8)
    assert not any(t["f"] == "|x|" for terms in ds.truth.relationships.values() for t in terms)
    assert torch.isfinite(ds.soc[~torch.isnan(ds.soc)]).all()


def test_generator_argument_errors():
    with pytest.raises(ValueError, match="unknown scenario 'sciren5'"):
        make_synthetic(10, scenario="sciren5")
    with pytest.raises(ValueError, match="noise"):
        make_synthetic(10, noise=-0.1)
    with pytest.raises(ValueError, match="n_sites"):
        make_synthetic(0)
