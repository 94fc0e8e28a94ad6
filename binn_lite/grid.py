"""Maps from a trained BINN: parameters and SOC for millions of grid cells, a chunk at a time.

:func:`predict_grid` walks over a grid in chunks of whole rows (``chunk_size`` cells, rounded
down to whole rows of longitude, at least one row). For each chunk it

1. reads the covariates and the forcing of the chunk's land cells from a *grid source*,
2. z-scores the covariates with the BINN's own training :class:`~binn_lite.dataset.Normalizer`
   (never statistics of the map: a map is not the training set),
3. runs head -> parameters -> process model without gradients on the BINN's device and dtype,
4. writes the chunk to the NetCDF file (:class:`~binn_lite.data.netcdf.PredictionWriter`), cells
   that are not land left as missing values,

so memory is bounded by the chunk, not by the map: nothing of a chunk is kept once it is written.
A tqdm bar counts the cells. With several BINNs (a list, or an
:class:`~binn_lite.uncertainty.Ensemble`) the file holds the ensemble mean and, as ``<name>_sd``,
the standard deviation over the members.

A grid source is any object with

``lat``, ``lon``
    the grid axes (degrees north, east); cells are numbered row-major, ``lat`` first;
``block(cells) -> (covariates, forcing, land)``
    for a slice of cell numbers (whole rows): a DataFrame with one row per land cell and the
    covariate columns, the process model's forcing of those cells in the same order, and the
    boolean land mask over the slice.

Two come with binn_lite: :class:`NetCDFGrid` (covariates as 2-D variables of one NetCDF file, the
forcing from a CLM5 history file on the same grid) and :class:`SyntheticGrid` (covariates and
forcing made up by :mod:`binn_lite.data.synthetic` over the conterminous US, for tests and
benchmarks). For sites instead of a map, :func:`predict_sites` writes a file of points.

Measured (``bench/grid.py``, 2 shared CPU cores, one thread, chunks of 10,000 cells): see the
README section "Running at scale".
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from .binn import BINN
from .data.netcdf import CLM5History, PredictionWriter
from .errors import BinnInputError
from .forcing import Forcing

__all__ = ["predict_grid", "predict_sites", "NetCDFGrid", "SyntheticGrid", "DEFAULT_CHUNK_SIZE"]

#: cells per chunk: about 150 MB of float64 CLM5 forcing and model work space
DEFAULT_CHUNK_SIZE = 10_000


# -------------------------------------------------------------------------------------------------
# One chunk: covariates and forcing -> parameters, SOC, stock (mean and sd over the members)
# -------------------------------------------------------------------------------------------------
def _members(binn: Any) -> list[BINN]:
    members = list(getattr(binn, "members", None) or ([binn] if isinstance(binn, BINN) else binn))
    if not members or not all(isinstance(m, BINN) for m in members):
        raise BinnInputError("predict: give a trained BINN, a list of BINNs or an Ensemble")
    for m in members:
        if m.normalizer is None:
            raise BinnInputError("predict: a BINN has no normalizer; train it with binn_lite.train.fit first")
    return members


def _profile_grid(binn: BINN) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """(node depths, layer bounds [n, 2], layer thicknesses) when the model is CLM5, else None."""
    from .clm5 import CLM5, DZ, ZISOI, ZSOI, ZTOP

    return (ZSOI, torch.stack([ZTOP, ZISOI], dim=1), DZ) if isinstance(binn.process_model, CLM5) else None


@torch.no_grad()
def _predict_block(members: Sequence[BINN], covariates: pd.DataFrame, forcing: Any) -> dict[str, np.ndarray]:
    """Parameters [n, p], SOC [n, nodes] and stock [n] (mean over the members; ``*_sd`` with several)."""
    params, soc = [], []
    profile = _profile_grid(members[0])
    for binn in members:
        was_training = binn.training
        binn.eval()
        try:
            x = binn.features(covariates).to(device=binn.device, dtype=binn.dtype)
            theta = binn.parameters_from(x)
            params.append(theta.double().cpu())
            if profile is not None:
                soc.append(binn.process_model(theta, forcing.to(device=binn.device, dtype=binn.dtype)).double().cpu())
        finally:
            binn.train(was_training)
    out = {"params": torch.stack(params)}
    if profile is not None:
        out["soc"] = torch.stack(soc)
        out["stock"] = (out["soc"] * profile[2].to(out["soc"])).sum(dim=-1)
    result = {name: value.mean(dim=0).numpy() for name, value in out.items()}
    if len(members) > 1:
        result.update({f"{name}_sd": value.std(dim=0).numpy() for name, value in out.items()})
    return result


def _spread(values: dict[str, np.ndarray], land: np.ndarray) -> dict[str, np.ndarray]:
    """Land-cell values placed in NaN arrays over all cells of the chunk."""
    full = {}
    for name, array in values.items():
        out = np.full((len(land), *array.shape[1:]), np.nan, dtype=np.float32)
        out[land] = array
        full[name] = out
    return full


def _writer(path: Any, members: Sequence[BINN], lat: Any, lon: Any, overwrite: bool, site_ids: Any = None,
            attrs: dict[str, Any] | None = None) -> PredictionWriter:
    profile = _profile_grid(members[0])
    return PredictionWriter(path, members[0].table, lat, lon, site_ids=site_ids,
                            depth=None if profile is None else profile[0].numpy(),
                            depth_bounds=None if profile is None else profile[1].numpy(),
                            uncertainty=len(members) > 1, overwrite=overwrite, attrs=attrs)


def _write(writer: PredictionWriter, cells: slice, values: dict[str, np.ndarray]) -> None:
    writer.write(cells, values["params"], values.get("soc"), values.get("stock"), values.get("params_sd"),
                 values.get("soc_sd"), values.get("stock_sd"))


# -------------------------------------------------------------------------------------------------
# Maps and sites
# -------------------------------------------------------------------------------------------------
def predict_grid(binn: Any, source: Any, path: str | os.PathLike, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 progress: bool = True, overwrite: bool = False) -> dict[str, float]:
    """Predict every land cell of ``source`` and write the map to ``path`` (NetCDF, CF attributes).

    Parameters
    ----------
    binn : a trained BINN, a list of BINNs or an :class:`~binn_lite.uncertainty.Ensemble`.
    source : a grid source (module docstring): :class:`NetCDFGrid`, :class:`SyntheticGrid` or yours.
    path : the NetCDF file to write (replaced only with ``overwrite=True``).
    chunk_size : cells per chunk (rounded down to whole rows, at least one row); memory grows with it.
    progress : show a tqdm bar of the cells.

    Returns
    -------
    ``{"cells": cells in the grid, "land_cells": cells predicted, "seconds": wall time,
    "cells_per_second": cells / seconds}``.
    """
    from tqdm.auto import tqdm

    members = _members(binn)
    if int(chunk_size) < 1:
        raise BinnInputError(f"chunk_size must be >= 1; got {chunk_size}")
    n_lat, n_lon = len(source.lat), len(source.lon)
    rows = max(1, int(chunk_size) // n_lon)
    start_time, land_cells = time.perf_counter(), 0
    with _writer(path, members, source.lat, source.lon, overwrite) as writer, \
            tqdm(total=n_lat * n_lon, desc="predict grid", unit="cell", unit_scale=True, disable=not progress) as bar:
        for first in range(0, n_lat, rows):
            cells = slice(first * n_lon, min(first + rows, n_lat) * n_lon)
            covariates, forcing, land = source.block(cells)
            if int(land.sum()):
                _write(writer, cells, _spread(_predict_block(members, covariates, forcing), land))
            land_cells += int(land.sum())
            bar.update(cells.stop - cells.start)
    seconds = time.perf_counter() - start_time
    return {"cells": n_lat * n_lon, "land_cells": land_cells, "seconds": seconds,
            "cells_per_second": n_lat * n_lon / seconds}


def predict_sites(binn: Any, dataset: Any, path: str | os.PathLike, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
                  overwrite: bool = False) -> Path:
    """Predict every site of a :class:`~binn_lite.dataset.SiteDataset` and write a NetCDF file of
    points (dimension ``site``; ``lat``/``lon`` from the site table's columns when it has them)."""
    members = _members(binn)
    sites = dataset.sites
    lat = sites["lat"].to_numpy(dtype=np.float64) if "lat" in sites else np.full(len(sites), np.nan)
    lon = sites["lon"].to_numpy(dtype=np.float64) if "lon" in sites else np.full(len(sites), np.nan)
    with _writer(path, members, lat, lon, overwrite, site_ids=list(dataset.site_ids)) as writer:
        for start in range(0, len(dataset), int(chunk_size)):
            cells = slice(start, min(start + int(chunk_size), len(dataset)))
            index = torch.arange(cells.start, cells.stop)
            _write(writer, cells, _predict_block(members, sites.iloc[cells], dataset.forcing[index]))
    return Path(path)


# -------------------------------------------------------------------------------------------------
# Grid sources
# -------------------------------------------------------------------------------------------------
class NetCDFGrid:
    """Covariates from a NetCDF file and forcing from a CLM5 history file, on the same lat/lon grid.

    ``covariates``: a NetCDF file with one variable per covariate, dimensions ``(lat, lon)``, named
    like the BINN's features (``feature_names``; default: every 2-D variable). ``forcing``: a path
    or a :class:`~binn_lite.data.netcdf.CLM5History` (a grid layout). A cell is land where the
    forcing and every covariate are present.
    """

    def __init__(self, covariates: str | os.PathLike, forcing: str | os.PathLike | CLM5History,
                 feature_names: Sequence[str] | None = None) -> None:
        import xarray

        from .data.netcdf import ENGINE

        self.forcing = forcing if isinstance(forcing, CLM5History) else CLM5History(forcing)
        if self.forcing.layout != "grid":
            raise BinnInputError(f"{self.forcing.label}: the forcing is a file of points, not a lat/lon grid")
        self.covariates = xarray.open_dataset(covariates, engine=ENGINE)
        label = Path(covariates).name
        names = list(feature_names) if feature_names is not None else [
            str(n) for n, v in self.covariates.data_vars.items() if set(v.dims) == {"lat", "lon"}]
        missing = [n for n in names if n not in self.covariates.data_vars]
        if missing:
            raise BinnInputError(f"{label}: no covariate variable(s) {', '.join(missing)}")
        for name in names:
            if set(self.covariates[name].dims) != {"lat", "lon"}:
                raise BinnInputError(f"{label}: {name} has dimensions {self.covariates[name].dims}; expected (lat, lon)")
        self.names = names
        self.lat, self.lon = self.forcing.lat, self.forcing.lon
        for axis in ("lat", "lon"):
            own = np.asarray(self.covariates[axis].values, dtype=np.float64)
            if own.shape != getattr(self, axis).shape or not np.allclose(own, getattr(self, axis)):
                raise BinnInputError(f"{label} and {self.forcing.label} have different {axis} axes; regrid one")

    def block(self, cells: slice) -> tuple[pd.DataFrame, Forcing, np.ndarray]:
        n_lon = len(self.lon)
        rows = slice(cells.start // n_lon, cells.stop // n_lon)
        part = self.covariates[self.names].isel(lat=rows)
        frame = pd.DataFrame({n: np.asarray(part[n].transpose("lat", "lon").values, dtype=np.float64).reshape(-1)
                              for n in self.names})
        arrays = self.forcing.read(cells)
        land = np.isfinite(frame.to_numpy()).all(axis=1)
        for values in arrays.values():
            land &= np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        forcing = Forcing.from_numpy(**{k: v[land] for k, v in arrays.items()})
        return frame[land].reset_index(drop=True), forcing, land


class SyntheticGrid:
    """A made-up ``n_lat`` x ``n_lon`` grid over the conterminous-US box, every cell land.

    Covariates come from :func:`binn_lite.data.landscape.site_covariates` and forcing from
    :func:`binn_lite.data.synthetic.clm5_forcing`, generated row by row with the same seed: the
    smooth fields are those of one landscape, and the small per-cell noise repeats from row to row,
    so a cell's values do not depend on the chunks it is read in.
    """

    def __init__(self, n_lat: int, n_lon: int, seed: int = 0) -> None:
        from .data.landscape import CONUS_BOUNDS

        self.lat = np.linspace(*CONUS_BOUNDS["lat"], int(n_lat))
        self.lon = np.linspace(*CONUS_BOUNDS["lon"], int(n_lon))
        self.seed = seed

    def block(self, cells: slice) -> tuple[pd.DataFrame, Forcing, np.ndarray]:
        from .data.landscape import site_covariates
        from .data.synthetic import clm5_forcing

        n_lon = len(self.lon)
        tables, parts = [], []
        for row in range(cells.start // n_lon, cells.stop // n_lon):
            sites = site_covariates(np.random.default_rng(self.seed), self.lon, np.full(n_lon, self.lat[row]))
            parts.append(clm5_forcing(np.random.default_rng(self.seed + 1), sites, np.zeros(n_lon)))
            sites.attrs = {}  # the bedrock depth, now in the forcing
            tables.append(sites)
        arrays = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
        covariates = pd.concat(tables, ignore_index=True)
        return covariates, Forcing.from_numpy(**arrays), np.ones(len(covariates), dtype=bool)
