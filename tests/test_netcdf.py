"""NetCDF in and out: CLM5 history files read back exactly, units and dimensions named, CF output."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import xarray

from binn_lite.clm5 import CLM5_PARAMETERS, ZISOI, ZSOI, ZTOP
from binn_lite.data import make_synthetic
from binn_lite.data.netcdf import ENGINE, CLM5History, PredictionWriter, write_clm5_forcing
from binn_lite.data.wosis import read_profiles
from binn_lite.errors import BinnInputError, MissingFileError
from binn_lite.forcing import FORCING_FIELDS

LAT, LON = np.array([40.0, 41.0, 42.0]), np.array([-100.0, -99.0, -98.0, -97.0])
LAND = np.array([[1, 1, 0, 1], [1, 1, 1, 1], [0, 1, 1, 1]], dtype=bool)  # 10 land cells


@pytest.fixture(scope="module")
def sites():
    return make_synthetic(10, seed=3)


@pytest.fixture()
def history(sites, tmp_path):
    return write_clm5_forcing(tmp_path / "history.nc", sites.forcing, LAT, LON, land=LAND)


def _same(a, b) -> bool:
    return all(torch.allclose(getattr(a, n).double(), getattr(b, n).double(), rtol=1e-6, atol=1e-6)
               for n in FORCING_FIELDS)


def _edited(path, out, **changes):
    """A copy of the file with ``changes`` (name -> function of the Dataset returning a new Dataset)."""
    with xarray.open_dataset(path, engine=ENGINE, decode_times=False) as data:
        data = data.load()
    for change in changes.values():
        data = change(data)
    data.to_netcdf(out, engine=ENGINE)
    return out


def test_grid_round_trip_land_mask_blocks_and_points(sites, history):
    with CLM5History(history) as h:
        assert (h.layout, h.n_cells) == ("grid", 12)
        forcing, land = h.forcing()
        assert np.array_equal(land, LAND.reshape(-1)) and _same(forcing, sites.forcing)
        part, land = h.forcing(slice(3, 9))  # cells 3..8: not whole rows
        assert land.tolist() == [True, True, True, True, True, False]
        assert _same(part, sites.forcing[[2, 3, 4, 5, 6]])
        lon, lat = h.cell_lonlat(slice(4, 6))
        assert lon.tolist() == [-100.0, -99.0] and lat.tolist() == [41.0, 41.0]
        assert _same(h.at([-99.1, -97.0], [40.2, 42.3]), sites.forcing[[1, 9]])
        with pytest.raises(BinnInputError, match=r"point 0 .*cell 2 has no forcing"):
            h.at([-98.0], [40.0])


def test_points_layout(sites, tmp_path):
    path = write_clm5_forcing(tmp_path / "points.nc", sites.forcing, sites.sites["lat"], sites.sites["lon"],
                              points=True)
    with CLM5History(path) as h:
        assert (h.layout, h.n_cells) == ("points", 10)
        assert _same(h.forcing()[0], sites.forcing)
        lon, lat = sites.sites["lon"].to_numpy(), sites.sites["lat"].to_numpy()
        assert _same(h.at(lon[[4, 1]], lat[[4, 1]]), sites.forcing[[4, 1]])


def test_units_are_converted_or_named(sites, history, tmp_path):
    def celsius(d):
        d["TSOI"] = (d["TSOI"] - 273.15).assign_attrs(units="degC")
        return d

    def per_second(d):
        days = xarray.DataArray([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dims="time")
        d["CWDC_INPUT"] = (d["CWDC_INPUT"] / (days * 86400.0)).assign_attrs(units="gC/m^2/s")
        return d

    converted = _edited(history, tmp_path / "units.nc", a=celsius, b=per_second)
    with CLM5History(converted) as h:
        assert _same(h.forcing()[0], sites.forcing)

    bad = _edited(history, tmp_path / "bad.nc", a=lambda d: d.assign(ALTMAX=d["ALTMAX"].assign_attrs(units="feet")))
    with pytest.raises(BinnInputError, match=r"bad.nc: ALTMAX has units 'feet'; expected m"):
        CLM5History(bad).read()


def test_dimensions_and_variables_are_named(history, tmp_path):
    no_fpi = _edited(history, tmp_path / "no_fpi.nc", a=lambda d: d.drop_vars("FPI_vr"))
    with pytest.raises(BinnInputError, match=r"no_fpi.nc: no variable 'FPI_vr'"):
        CLM5History(no_fpi).read()
    renamed = _edited(history, tmp_path / "renamed.nc", a=lambda d: d.rename({"FPI_vr": "NSCALAR"}))
    assert CLM5History(renamed, variables={"nitrogen_scalar": "NSCALAR"}).read()["nitrogen_scalar"].shape == (12, 12, 20)
    shallow = _edited(history, tmp_path / "shallow.nc", a=lambda d: d.isel(levdcmp=slice(0, 10)))
    with pytest.raises(BinnInputError, match=r"W_SCALAR has 10 levels along 'levdcmp'"):
        CLM5History(shallow).read()
    flat = _edited(history, tmp_path / "flat.nc", a=lambda d: d.assign(ALTMAX=d["ALTMAX"].isel(time=0)))
    with pytest.raises(BinnInputError, match=r"ALTMAX has dimensions \('lat', 'lon'\); expected \(time, lat, lon\)"):
        CLM5History(flat).read()
    odd = _edited(history, tmp_path / "odd.nc", a=lambda d: d.isel(time=slice(0, 7)))
    with pytest.raises(BinnInputError, match="7 time steps"):
        CLM5History(odd).read()
    with pytest.raises(MissingFileError):
        CLM5History(tmp_path / "nothing.nc")


def test_levgrnd_of_25_levels_is_cut_to_the_20_soil_layers(sites, history, tmp_path):
    def bedrock_levels(d):
        deep = d["TSOI"].isel(levgrnd=slice(0, 5)) * 0 + 999.0  # 5 bedrock levels, never read
        d = d.drop_vars("TSOI").assign(TSOI=xarray.concat([d["TSOI"], deep], dim="levgrnd"))
        d["TSOI"].attrs["units"] = "K"
        return d

    with CLM5History(_edited(history, tmp_path / "levgrnd.nc", a=bedrock_levels)) as h:
        assert _same(h.forcing()[0], sites.forcing)


def test_two_years_average_into_a_climatology(sites, history, tmp_path):
    def two_years(d):
        second = d.copy()
        second["TSOI"] = second["TSOI"] + 2.0
        return xarray.concat([d, second], dim="time", data_vars="minimal", coords="minimal", compat="override")

    path = _edited(history, tmp_path / "two.nc", a=two_years)
    forcing = CLM5History(path).forcing()[0]
    assert torch.allclose(forcing.soil_temperature, sites.forcing.soil_temperature + 1.0, atol=1e-4)


def test_out_of_range_values_are_named_by_cell(history, tmp_path):
    def hot(d):
        d["TSOI"][0, 0, 1, 2] = 500.0
        return d

    with pytest.raises(BinnInputError, match=r"hot.nc: .*soil_temperature.*cell 6 \(lat 41, lon -98\)"):
        CLM5History(_edited(history, tmp_path / "hot.nc", a=hot)).forcing()


def test_prediction_file_round_trip_with_cf_attributes(tmp_path):
    rng = np.random.default_rng(0)
    params = rng.uniform(size=(12, len(CLM5_PARAMETERS))).astype(np.float32)
    soc = rng.uniform(size=(12, 20)).astype(np.float32)
    params[2] = np.nan
    path = tmp_path / "map.nc"
    bounds = torch.stack([ZTOP, ZISOI], dim=1).numpy()
    with PredictionWriter(path, CLM5_PARAMETERS, LAT, LON, depth=ZSOI.numpy(), depth_bounds=bounds,
                          uncertainty=True) as writer:
        for rows in (slice(0, 8), slice(8, 12)):  # chunk by chunk, whole rows
            writer.write(rows, params[rows], soc[rows], soc[rows].sum(1), params[rows] / 10, soc[rows] / 10,
                         soc[rows].sum(1) / 10)
        with pytest.raises(BinnInputError, match="whole rows"):
            writer.write(slice(1, 5), params[1:5])
    data = xarray.open_dataset(path, engine=ENGINE)
    assert data.attrs["Conventions"] == "CF-1.8"
    assert data["lat"].attrs["units"] == "degrees_north" and data["lon"].attrs["standard_name"] == "longitude"
    assert data["depth"].attrs["positive"] == "down" and data["depth_bnds"].shape == (20, 2)
    assert data["tau_s3"].attrs["units"] == CLM5_PARAMETERS["tau_s3"].unit
    assert data["soc"].dims == ("depth", "lat", "lon") and data["soc"].attrs["units"] == "g m-3"
    efolding = CLM5_PARAMETERS.index("efolding")
    assert np.allclose(data["efolding"].values.reshape(-1), params[:, efolding], equal_nan=True)
    assert np.isnan(data["efolding"].values[0, 2])
    assert np.allclose(data["soc"].values.reshape(20, -1).T, soc)
    assert np.allclose(data["soc_stock_sd"].values.reshape(-1), soc.sum(1) / 10)
    assert "long_name" in data["efolding_sd"].attrs
    data.close()


def test_prediction_file_of_points(tmp_path):
    ids = [f"P{i}" for i in range(5)]
    params = np.arange(5 * len(CLM5_PARAMETERS), dtype=np.float32).reshape(5, -1)
    with PredictionWriter(tmp_path / "sites.nc", CLM5_PARAMETERS, np.arange(5.0), np.arange(5.0) - 100,
                          site_ids=ids) as writer:
        writer.write(slice(0, 5), params)
    data = xarray.open_dataset(tmp_path / "sites.nc", engine=ENGINE)
    assert data["site_id"].values.tolist() == ids and data["q10"].dims == ("site",)
    assert {"lat", "lon"} <= set(data["q10"].coords) and "soc" not in data  # CF "coordinates"
    with pytest.raises(FileExistsError):
        PredictionWriter(tmp_path / "sites.nc", CLM5_PARAMETERS, [0.0], [0.0], site_ids=["a"])
    data.close()


def test_wosis_profiles_become_soc_density():
    table = pd.DataFrame({
        "profile_id": [7, 7, 7, 9, 9], "longitude": [-90.0] * 3 + [-80.0] * 2, "latitude": [40.0] * 3 + [35.0] * 2,
        "upper_depth": [0, 10, 30, 0, 20], "lower_depth": [10, 30, 60, 20, 50],
        "orgc_value_avg": [20.0, 10.0, None, 15.0, 5.0], "bdfiod_value_avg": [1.2, 1.4, 1.5, 1.0, 1.3],
        "cfvo_value_avg": [0.0, 10.0, 0.0, None, 0.0]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sites, obs = read_profiles(table)
    messages = [str(w.message) for w in caught]
    assert any("1 layer(s) without a coarse-fragment value" in m for m in messages)
    assert any("dropping 1 of 5" in m for m in messages)
    assert sites.loc["7", "lon"] == -90.0 and list(sites.index) == ["7", "9"]
    assert obs["depth_m"].tolist() == [0.05, 0.2, 0.1, 0.35]
    assert np.allclose(obs["soc_gC_m3"], [20 * 1.2e3, 10 * 1.4e3 * 0.9, 15 * 1.0e3, 5 * 1.3e3])
    with pytest.raises(BinnInputError, match=r"missing column\(s\) 'lower_depth' \(bottom\)"):
        read_profiles(table.drop(columns="lower_depth"))
    with pytest.warns(UserWarning, match="coarse-fragment"), pytest.raises(BinnInputError, match="need 0 <= top < bottom"):
        read_profiles(table.dropna(subset=["orgc_value_avg"]).assign(lower_depth=[10, 5, 20, 50]))
    with pytest.warns(UserWarning, match="coarse-fragment"), \
            pytest.raises(BinnInputError, match=r"'bdfiod_value_avg' must be in 0.02..2.65 kg dm-3.*row 2 has 1400"):
        read_profiles(table.assign(bdfiod_value_avg=[1.2, 1400, 1.5, 1.0, 1.3]))  # kg m-3 by mistake
    with pytest.raises(BinnInputError, match=r"'cfvo_value_avg' must be in 0..100 volume %; row 1 has -5"):
        read_profiles(table.assign(cfvo_value_avg=[-5.0, 10.0, 0.0, None, 0.0]))
