"""Gridded prediction: chunk by chunk equals all at once, the training normalizer, land masks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5, DZ
from binn_lite.data import SCIREN_COVARIATES, make_synthetic
from binn_lite.data.netcdf import ENGINE, write_clm5_forcing
from binn_lite.errors import BinnInputError
from binn_lite.grid import NetCDFGrid, SyntheticGrid, predict_grid, predict_sites
from binn_lite.heads import MLPHead


@pytest.fixture(scope="module")
def sites():
    return make_synthetic(30, seed=7)


def _binn(sites, seed=0) -> BINN:
    binn = BINN(MLPHead(10, 4, hidden=(8,), seed=seed), CLM5(), learn="most_influential")
    binn.normalizer = sites.fit_normalizer(np.arange(len(sites)))  # the training normalizer
    return binn.eval()


@torch.no_grad()
def _direct(binn: BINN, covariates: pd.DataFrame, forcing) -> tuple[np.ndarray, np.ndarray]:
    """Parameters and SOC of every cell at once, with the BINN's own normalizer."""
    theta = binn.parameters_from(binn.normalizer.transform(covariates))
    return theta.numpy(), binn.process_model(theta, forcing.to(dtype=torch.float32)).numpy()


class CountingGrid(SyntheticGrid):
    """A SyntheticGrid that records the size of every block it is asked for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sizes = []

    def block(self, cells):
        self.sizes.append(cells.stop - cells.start)
        return super().block(cells)


def test_chunks_give_the_map_of_one_pass(sites, tmp_path):
    binn, grid = _binn(sites), CountingGrid(5, 8, seed=1)
    summary = predict_grid(binn, grid, tmp_path / "chunked.nc", chunk_size=20, progress=False)
    assert summary["cells"] == summary["land_cells"] == 40
    assert grid.sizes == [16, 16, 8]  # whole rows of 8 cells, at most chunk_size
    covariates, forcing, _ = SyntheticGrid(5, 8, seed=1).block(slice(0, 40))
    params, soc = _direct(binn, covariates, forcing)
    data = xarray.open_dataset(tmp_path / "chunked.nc", engine=ENGINE)
    for i, name in enumerate(binn.parameter_names):
        assert np.allclose(data[name].values.reshape(-1), params[:, i], rtol=1e-5), name
    assert np.allclose(data["soc"].values.reshape(20, -1).T, soc, rtol=1e-4)
    stock = (soc.astype(np.float64) * DZ.numpy()).sum(axis=1)
    assert np.allclose(data["soc_stock"].values.reshape(-1), stock, rtol=1e-4)
    data.close()


def test_covariates_use_the_training_normalizer(sites, tmp_path):
    binn = _binn(sites)
    covariates, forcing, _ = SyntheticGrid(2, 3).block(slice(0, 6))
    own = binn.parameters_from(binn.normalizer.transform(covariates)).detach().numpy()
    refit = sites.fit_normalizer(np.arange(len(sites)))  # not the grid's own statistics
    assert refit.to_dict() == binn.normalizer.to_dict()
    predict_grid(binn, SyntheticGrid(2, 3), tmp_path / "m.nc", progress=False)
    data = xarray.open_dataset(tmp_path / "m.nc", engine=ENGINE)
    assert np.allclose(data["efolding"].values.reshape(-1), own[:, binn.table.index("efolding")], rtol=1e-5)
    data.close()


def test_netcdf_grid_with_ocean_cells(sites, tmp_path):
    lat, lon = np.array([35.0, 36.0, 37.0]), np.array([-95.0, -94.0, -93.0, -92.0])
    land = np.ones((3, 4), dtype=bool)
    land[0, 0] = land[2, 3] = False
    cells = sites.subset(slice(0, 10))
    history = write_clm5_forcing(tmp_path / "history.nc", cells.forcing, lat, lon, land=land)
    values = {name: np.full(12, np.nan) for name in SCIREN_COVARIATES}
    for name in SCIREN_COVARIATES:
        values[name][land.reshape(-1)] = cells.sites[name].to_numpy()
    covariates = xarray.Dataset({n: (("lat", "lon"), v.reshape(3, 4)) for n, v in values.items()},
                                coords={"lat": lat, "lon": lon})
    covariates.to_netcdf(tmp_path / "covariates.nc", engine=ENGINE)
    binn = _binn(sites)
    summary = predict_grid(binn, NetCDFGrid(tmp_path / "covariates.nc", history), tmp_path / "map.nc",
                           chunk_size=4, progress=False)
    assert summary["land_cells"] == 10
    params, soc = _direct(binn, cells.sites, cells.forcing)
    data = xarray.open_dataset(tmp_path / "map.nc", engine=ENGINE)
    tau = data["tau_s3"].values.reshape(-1)
    assert np.isnan(tau[~land.reshape(-1)]).all()
    assert np.allclose(tau[land.reshape(-1)], params[:, binn.table.index("tau_s3")], rtol=1e-5)
    assert np.allclose(data["soc"].values.reshape(20, -1).T[land.reshape(-1)], soc, rtol=1e-4)
    data.close()

    covariates.assign_coords(lat=lat + 0.5).to_netcdf(tmp_path / "shifted.nc", engine=ENGINE)
    with pytest.raises(BinnInputError, match="different lat axes"):
        NetCDFGrid(tmp_path / "shifted.nc", history)
    with pytest.raises(BinnInputError, match="no covariate variable"):
        NetCDFGrid(tmp_path / "covariates.nc", history, feature_names=["bio1", "elevation"])


def test_ensemble_mean_and_spread(sites, tmp_path):
    members = [_binn(sites, seed=0), _binn(sites, seed=1)]
    predict_grid(members, SyntheticGrid(2, 4), tmp_path / "ensemble.nc", progress=False)
    covariates, forcing, _ = SyntheticGrid(2, 4).block(slice(0, 8))
    one, two = (_direct(m, covariates, forcing)[0] for m in members)
    data = xarray.open_dataset(tmp_path / "ensemble.nc", engine=ENGINE)
    k = members[0].table.index("fs1s3")
    assert np.allclose(data["fs1s3"].values.reshape(-1), (one[:, k] + two[:, k]) / 2, rtol=1e-5)
    assert np.allclose(data["fs1s3_sd"].values.reshape(-1), np.abs(one[:, k] - two[:, k]) / np.sqrt(2), atol=1e-6)
    assert "soc_stock_sd" in data
    data.close()


def test_sites_to_points_file(sites, tmp_path):
    binn = _binn(sites)
    predict_sites(binn, sites, tmp_path / "sites.nc", chunk_size=7)
    params, _ = binn.predict_dataset(sites)
    data = xarray.open_dataset(tmp_path / "sites.nc", engine=ENGINE)
    assert data["site_id"].values.tolist() == list(sites.site_ids)
    assert np.allclose(data["w_scaling"].values, params["w_scaling"].to_numpy(), rtol=1e-5)
    assert np.allclose(data["lat"].values, sites.sites["lat"].to_numpy())
    data.close()
    with pytest.raises(BinnInputError, match="no normalizer"):
        predict_sites(BINN(MLPHead(10, 4), CLM5(), learn="most_influential"), sites, tmp_path / "x.nc")
