"""Saving a dataset as files and reading your own profiles, one test per bad input (binn_lite.data.files)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from binn_lite.data import make_synthetic, read_dataset, save_dataset
from binn_lite.forcing import Forcing


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
