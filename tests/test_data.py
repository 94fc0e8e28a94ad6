"""Synthetic data with known truth, the bundled example, and reading your own profiles."""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from binn_lite import data
from binn_lite.clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL, ZSOI, Forcing
from binn_lite.data import SCIREN_COVARIATES, make_synthetic, read_dataset, save_dataset


@pytest.fixture(scope="module")
def example():
    return data.load_example()


@pytest.fixture(scope="module")
def generated():
    return make_synthetic(**data.EXAMPLE_SETTINGS)


@pytest.fixture(scope="module")
def small():
    return make_synthetic(40, seed=7)


@pytest.fixture(scope="module")
def files(small, tmp_path_factory):
    """The small dataset written as files (sites.csv, observations.csv, forcing.npz, ...)."""
    return save_dataset(small, tmp_path_factory.mktemp("small"))


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str)


# ---------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------
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
    lon_lo, lon_hi = data.CONUS_BOUNDS["lon"]
    lat_lo, lat_hi = data.CONUS_BOUNDS["lat"]
    assert s["lon"].between(lon_lo, lon_hi).all() and s["lat"].between(lat_lo, lat_hi).all()
    assert data._inside(s["lon"].to_numpy(), s["lat"].to_numpy(), data.CONUS_OUTLINE).all()
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
    assert set(s["land_cover"]) == set(data.LAND_COVER_CLASSES)
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
    share = s["land_cover"].map(data.LITTER_RETURN).to_numpy()
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
            assert term["f"] in data.TRUTH_FUNCTIONS
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


# ---------------------------------------------------------------------------------------------
# Bundled example
# ---------------------------------------------------------------------------------------------
def test_regeneration_is_bit_for_bit(generated, tmp_path):
    # regenerate_example(out) is make_synthetic(**EXAMPLE_SETTINGS) written by save_dataset
    written = save_dataset(generated, tmp_path, settings=data.EXAMPLE_SETTINGS)
    assert sorted(written) == sorted(data.EXAMPLE_FILES)
    for name in data.EXAMPLE_FILES:
        assert (tmp_path / name).read_bytes() == (data.example_dir() / name).read_bytes(), name


def test_regenerate_command(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(data, "make_synthetic", lambda **kw: calls.append(kw) or make_synthetic(12, seed=1))
    data.main(["--regenerate", "--out", str(tmp_path)])
    assert calls == [data.EXAMPLE_SETTINGS]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(data.EXAMPLE_FILES)
    assert "forcing.npz" in capsys.readouterr().out


def test_load_example_fast_small_and_equal_to_generator(example, generated):
    start = time.perf_counter()
    loaded = data.load_example()
    assert time.perf_counter() - start < 2.0
    total = sum((data.example_dir() / name).stat().st_size for name in data.EXAMPLE_FILES)
    assert total < 15e6
    assert len(loaded) == 1500 and loaded.feature_names == SCIREN_COVARIATES
    pd.testing.assert_frame_equal(loaded.sites, generated.sites)
    pd.testing.assert_frame_equal(loaded.observations, generated.observations)
    pd.testing.assert_frame_equal(loaded.truth.params, generated.truth.params)
    assert loaded.truth.to_dict() == generated.truth.to_dict()
    for name, array in generated.forcing.to_numpy().items():
        np.testing.assert_array_equal(loaded.forcing.to_numpy()[name], array)


# ---------------------------------------------------------------------------------------------
# read_dataset: good input
# ---------------------------------------------------------------------------------------------
def test_read_dataset_from_files_and_dataframes(small, files):
    from_files = read_dataset(files["sites.csv"], files["observations.csv"], files["forcing.npz"])
    pd.testing.assert_frame_equal(from_files.sites, small.sites)
    torch.testing.assert_close(from_files.soc, small.soc, equal_nan=True)
    in_memory = read_dataset(small.sites, small.observations.drop(columns="depth_m"),
                             small.forcing.to_numpy())  # depth from top_m / bottom_m
    np.testing.assert_allclose(in_memory.depth.numpy(), small.depth.numpy(), atol=5e-4)
    as_forcing = read_dataset(small.sites.reset_index(), small.observations, small.forcing)
    assert as_forcing.site_ids.equals(small.site_ids) and isinstance(as_forcing.forcing, Forcing)


def test_forcing_matched_by_site_id(small, files, tmp_path):
    shuffled = _read(files["sites.csv"]).iloc[::-1]
    shuffled.to_csv(tmp_path / "sites.csv", index=False)
    ds = read_dataset(tmp_path / "sites.csv", files["observations.csv"], files["forcing.npz"])
    assert ds.site_ids.tolist() == small.site_ids.tolist()[::-1]
    torch.testing.assert_close(ds.forcing.soil_temperature, small.forcing.soil_temperature.flip(0))


# ---------------------------------------------------------------------------------------------
# read_dataset: one test per bad input, asserting the message
# ---------------------------------------------------------------------------------------------
def test_misspelt_column_suggests_the_close_match(files, tmp_path):
    sites = _read(files["sites.csv"]).rename(columns={"clay": "caly", "bulk_density": "Bulk_Density"})
    sites.to_csv(tmp_path / "my_sites.csv", index=False)
    with pytest.raises(ValueError) as error:
        read_dataset(tmp_path / "my_sites.csv", files["observations.csv"], files["forcing.npz"])
    message = str(error.value)
    assert "my_sites.csv" in message
    assert "missing column 'clay' (did you mean 'caly'?)" in message
    assert "missing column 'bulk_density' (did you mean 'Bulk_Density'?)" in message


def test_missing_observation_column(files, tmp_path):
    obs = _read(files["observations.csv"]).drop(columns=["top_m", "bottom_m"]).rename(columns={"soc_gC_m3": "soc"})
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"obs.csv: missing column 'soc_gC_m3' \(did you mean 'soc'\?\)"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_non_numeric_value_named(files, tmp_path):
    sites = _read(files["sites.csv"])
    sites.loc[4, "ph"] = "6,5"
    sites.to_csv(tmp_path / "sites.csv", index=False)
    with pytest.raises(ValueError, match=r"sites.csv: column 'ph' has a non-numeric value '6,5' at site 'S00005' \(line 6\)"):
        read_dataset(tmp_path / "sites.csv", files["observations.csv"], files["forcing.npz"])


def test_nan_covariate_named(files, tmp_path):
    sites = _read(files["sites.csv"])
    sites.loc[2, "npp"] = ""
    sites.to_csv(tmp_path / "sites.csv", index=False)
    with pytest.raises(ValueError, match=r"sites.csv: column 'npp' is missing \(NaN or empty\) a covariate at site 'S00003'"):
        read_dataset(tmp_path / "sites.csv", files["observations.csv"], files["forcing.npz"])


def test_nan_covariate_in_dataframe(small):
    sites = small.sites.copy()
    sites.loc["S00010", "clay"] = np.nan
    with pytest.raises(ValueError, match=r"sites \(DataFrame\): column 'clay' is missing .* site 'S00010'"):
        read_dataset(sites, small.observations, small.forcing)


def _obs_without_horizons(files) -> pd.DataFrame:
    return _read(files["observations.csv"]).drop(columns=["top_m", "bottom_m"])


def test_negative_depth(files, tmp_path):
    obs = _obs_without_horizons(files)
    obs.loc[3, "depth_m"] = "-0.2"
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"obs.csv: negative depth in column 'depth_m': -0.2 m at site 'S00001' \(line 5\)"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_zero_depth_without_horizons(files, tmp_path):
    obs = _obs_without_horizons(files)
    obs.loc[0, "depth_m"] = "0"
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"depth exactly 0 m \(a zero-thickness sample at the surface\).*site 'S00001'"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_zero_thickness_horizon(files, tmp_path):
    obs = _read(files["observations.csv"])
    obs.loc[1, "bottom_m"] = obs.loc[1, "top_m"]
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"obs.csv: zero-thickness horizon at site 'S00001' \(line 3\): top_m = "):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_depths_in_centimetres(files, tmp_path):
    obs = _obs_without_horizons(files)
    obs["depth_m"] = (obs["depth_m"].astype(float) * 100).round(1).astype(str)
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"obs.csv: depth .* m in column 'depth_m' .* deeper than 10 m; are these centimetres\?"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_soc_in_percent(small, files, tmp_path):
    obs = _read(files["observations.csv"])
    bulk = small.sites["bulk_density"].reindex(obs["site_id"]).to_numpy()
    obs["soc_gC_m3"] = (obs["soc_gC_m3"].astype(float) / (bulk * 1e4)).round(3)  # g C per 100 g soil
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"obs.csv: column 'soc_gC_m3' should be SOC density in g C m-3.*looks like percent"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_soc_in_kg_per_m3(files, tmp_path):
    obs = _read(files["observations.csv"])
    obs["soc_gC_m3"] = (obs["soc_gC_m3"].astype(float) / 1000).round(2)
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"median is .*looks like kg C m-3 \(multiply by 1,000\)"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])
    ds = read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"], check_units=False)
    assert float(np.nanmedian(ds.soc)) < 200


def test_duplicate_site_ids(files, tmp_path):
    sites = _read(files["sites.csv"])
    sites.loc[5, "site_id"] = "S00002"
    sites.to_csv(tmp_path / "sites.csv", index=False)
    with pytest.raises(ValueError, match=r"sites.csv: duplicate site id\(s\) 'S00002'"):
        read_dataset(tmp_path / "sites.csv", files["observations.csv"], files["forcing.npz"])


def test_observations_for_unknown_sites(files, tmp_path):
    obs = _read(files["observations.csv"])
    obs.loc[0, "site_id"] = "X99"
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"obs.csv: observations for 1 site\(s\) not in sites.csv: 'X99'"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])


def test_sites_without_observations_reported_or_dropped(small, files, tmp_path):
    obs = _read(files["observations.csv"])
    obs = obs[~obs["site_id"].isin(["S00004", "S00030"])]
    obs.to_csv(tmp_path / "obs.csv", index=False)
    with pytest.raises(ValueError, match=r"sites.csv: 2 site\(s\) have no observation in obs.csv: 'S00004', 'S00030'"):
        read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"])
    with pytest.warns(UserWarning, match=r"dropping 2 site\(s\) without observations: 'S00004', 'S00030'"):
        ds = read_dataset(files["sites.csv"], tmp_path / "obs.csv", files["forcing.npz"],
                          drop_sites_without_observations=True)
    assert len(ds) == 38 and "S00004" not in ds.site_ids and len(ds.forcing) == 38
    keep = ~small.site_ids.isin(["S00004", "S00030"])
    torch.testing.assert_close(ds.forcing.litter_input, small.forcing.litter_input[torch.from_numpy(keep)])


def test_forcing_with_wrong_number_of_sites(small, files):
    arrays = small.forcing.to_numpy()
    short = {k: v[:-1] for k, v in arrays.items()}
    with pytest.raises(ValueError, match=r"forcing \(dict\) has 39 sites but sites.csv has 40"):
        read_dataset(files["sites.csv"], files["observations.csv"], short)
    with pytest.raises(ValueError, match=r"forcing \(Forcing\) has 39 sites but sites \(DataFrame\) has 40"):
        read_dataset(small.sites, small.observations, small.forcing[torch.arange(39)])


def test_forcing_file_with_other_sites_or_fields(small, files, tmp_path):
    arrays = small.forcing.to_numpy()
    ids = np.array(small.site_ids.tolist())
    ids[3] = "ELSEWHERE"
    np.savez(tmp_path / "forcing.npz", site_id=ids, **arrays)
    with pytest.raises(ValueError, match=r"forcing.npz: no forcing for site\(s\) 'S00004' of sites.csv"):
        read_dataset(files["sites.csv"], files["observations.csv"], tmp_path / "forcing.npz")
    renamed = dict(arrays)
    renamed["soil_temp"] = renamed.pop("soil_temperature")
    np.savez(tmp_path / "forcing2.npz", **renamed)
    with pytest.raises(ValueError, match=r"forcing2.npz: unknown forcing field\(s\) soil_temp \(did you mean 'soil_temperature'\?\)"):
        read_dataset(files["sites.csv"], files["observations.csv"], tmp_path / "forcing2.npz")


def test_forcing_in_celsius_names_file_and_site(small, files, tmp_path):
    arrays = small.forcing.to_numpy()
    arrays["soil_temperature"] = arrays["soil_temperature"] - 273.15
    np.savez(tmp_path / "forcing.npz", **arrays)
    with pytest.raises(ValueError, match=r"forcing.npz: .*soil_temperature.*kelvin.*site 0 .*degrees Celsius.*\(site 0 is 'S00001'\)"):
        read_dataset(files["sites.csv"], files["observations.csv"], tmp_path / "forcing.npz")


def test_wrong_argument_types(small):
    with pytest.raises(TypeError, match="forcing must be an NPZ path"):
        read_dataset(small.sites, small.observations, [1, 2, 3])
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_dataset("/nonexistent/sites.csv", small.observations, small.forcing)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_dataset(small.sites, small.observations, small.forcing)  # good input: no warning
