"""A dataset as open files, and back: ``save_dataset`` writes them, ``read_dataset`` reads and checks them.

The files (:data:`DATASET_FILES`; the bundled example in ``data/`` is such a folder):

* ``sites.csv`` -- one row per site, index ``site_id``, covariates (:data:`~binn_lite.data.schema.COVARIATES`);
* ``observations.csv`` -- long table ``site_id, depth_m, top_m, bottom_m, soc_gC_m3``;
* ``forcing.npz`` -- one array per CLM5 forcing field plus ``site_id`` (uncompressed NumPy zip);
* ``truth_params.csv``, ``truth.json`` -- synthetic data only: the true parameters and relationships.

Writing is deterministic (fixed decimals per column, fixed zip timestamps): the same dataset always
gives the same bytes. Reading your own data goes through the checks of :mod:`binn_lite.data.validation`.
"""
from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..dataset import SiteDataset
from ..forcing import Forcing
from .schema import COVARIATES, OBSERVATION_COLUMNS, SCIREN_COVARIATES, TRUTH_DIGITS
from .truth import Truth
from .validation import (build_forcing, check_observations, check_sites, forcing_arrays, name_list, read_table,
                         source_label)

__all__ = ["DATASET_FILES", "save_dataset", "read_dataset", "read_truth"]

#: the files of a saved dataset (the last two only with a truth)
DATASET_FILES = ("sites.csv", "observations.csv", "forcing.npz", "truth_params.csv", "truth.json")


# ---------------------------------------------------------------------------------------------
# Writing (deterministic: the same dataset always gives the same bytes)
# ---------------------------------------------------------------------------------------------
def _format_column(values: pd.Series, decimals: int | None) -> pd.Series:
    """Text of a column: fixed decimals for known float columns, 12 significant digits otherwise."""
    if pd.api.types.is_float_dtype(values) or pd.api.types.is_integer_dtype(values):
        array = values.to_numpy(dtype=np.float64)
        fmt = f"%.{decimals}f" if decimals is not None else "%.12g"
        if pd.api.types.is_integer_dtype(values):
            fmt = "%d"
        return pd.Series(np.char.mod(fmt, array), index=values.index)
    return values.astype(str)


def _write_csv(frame: pd.DataFrame, path: Path, decimals: Mapping[str, int]) -> None:
    text = pd.DataFrame({c: _format_column(frame[c], decimals.get(c)) for c in frame.columns}, index=frame.index)
    text.to_csv(path, lineterminator="\n")


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Like ``numpy.savez`` (uncompressed) but with fixed zip timestamps, so bytes are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o644 << 16
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(info, buffer.getvalue())


def save_dataset(dataset: SiteDataset, directory: str | os.PathLike, forcing_dtype: Any = np.float32,
                 settings: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write a CLM5 dataset as open files in ``directory`` (created if needed).

    Files: ``sites.csv`` (index ``site_id``), ``observations.csv`` (long table), ``forcing.npz``
    (one array per forcing field plus ``site_id``; floating fields stored as ``forcing_dtype``) and,
    with a truth, ``truth_params.csv`` (physical parameters per site) and ``truth.json``
    (relationships; ``settings`` are recorded there too). Known columns are written with the fixed
    decimals of :data:`COVARIATES` / :data:`OBSERVATION_COLUMNS`, other floats with 12 significant
    digits. Returns ``{file name: path}``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / name for name in DATASET_FILES}
    known = [c for c in COVARIATES if c in dataset.sites.columns]
    sites = dataset.sites[known + [c for c in dataset.sites.columns if c not in known]]
    _write_csv(sites, paths["sites.csv"], {c: v[2] for c, v in COVARIATES.items()})
    obs = dataset.observations
    obs_known = [c for c in OBSERVATION_COLUMNS if c in obs.columns]
    obs = obs[obs_known + [c for c in obs.columns if c not in obs_known]].set_index("site_id")
    _write_csv(obs, paths["observations.csv"], {c: v[2] for c, v in OBSERVATION_COLUMNS.items()})
    arrays = {k: (v.astype(forcing_dtype) if v.dtype.kind == "f" else v) for k, v in dataset.forcing.to_numpy().items()}
    arrays["site_id"] = np.array([str(s) for s in dataset.site_ids])
    _write_npz(paths["forcing.npz"], arrays)
    if dataset.truth is None:
        return {k: v for k, v in paths.items() if not k.startswith("truth")}
    params = dataset.truth.params.copy()
    params.index.name = "site_id"
    text = pd.DataFrame({c: np.char.mod(f"%.{TRUTH_DIGITS}g", params[c].to_numpy(dtype=np.float64))
                         for c in params.columns}, index=params.index)
    text.to_csv(paths["truth_params.csv"], lineterminator="\n")
    record = {"description": "True CLM5 parameters of a synthetic dataset (binn_lite.data.make_synthetic). "
                             "For each varying parameter p: u_p = u_min + (u_max - u_min) (g - g_min) / (g_max - g_min), "
                             "g = sum over its terms of c f(a x + b) + d, x = (covariate - mean) / std; "
                             "physical value = low + u_p (high - low). Fixed parameters: u = fixed[p].",
              **dataset.truth.to_dict()}
    if settings is not None:
        record["settings"] = dict(settings)
    paths["truth.json"].write_text(json.dumps(record, indent=1) + "\n")
    return paths


# ---------------------------------------------------------------------------------------------
# Reading, with checks
# ---------------------------------------------------------------------------------------------
def read_truth(params_path: str | os.PathLike, json_path: str | os.PathLike) -> Truth:
    """The :class:`~binn_lite.data.truth.Truth` that :func:`save_dataset` wrote to these two files."""
    record = json.loads(Path(json_path).read_text())
    params = pd.read_csv(params_path, dtype={"site_id": str}).set_index("site_id")
    return Truth.from_dict(record, params.astype(np.float64))


def read_dataset(sites: str | os.PathLike | pd.DataFrame, observations: str | os.PathLike | pd.DataFrame,
                 forcing: str | os.PathLike | Forcing | Mapping[str, Any], *,
                 feature_names: Sequence[str] = SCIREN_COVARIATES, truth: Truth | None = None,
                 drop_sites_without_observations: bool = False, check_units: bool = True,
                 site_id: str = "site_id", depth: str = "depth_m", soc: str = "soc_gC_m3") -> SiteDataset:
    """Your own soil profiles as a :class:`SiteDataset`, checked with clear error messages.

    Parameters
    ----------
    sites : CSV path or DataFrame, one row per site: ``site_id`` (or the index), the covariates in
        ``feature_names``, optionally ``lon``, ``lat`` (degrees; needed for a spatial split) and more.
    observations : CSV path or DataFrame in long format: ``site_id``, ``depth_m`` (m, > 0, positive
        downwards; the middle of the sampled horizon) and ``soc_gC_m3`` (SOC density, g C m-3).
        If it has horizon columns ``top_m`` and ``bottom_m`` (m), each horizon must have
        ``bottom_m > top_m`` (zero thickness is an error) and ``depth_m`` may be left out (it is
        then the middle of the horizon). Without horizons a depth of exactly 0 is rejected as a
        zero-thickness sample.
    forcing : NPZ path (as written by :func:`save_dataset`), a CLM5 :class:`Forcing`, or a dict of
        arrays with the :data:`~binn_lite.forcing.FORCING_FIELDS`. With a ``site_id`` array the forcing is
        matched to the sites by id; without, it must follow the order of the site table.
    feature_names : covariates used as network inputs (must be numeric, no missing values).
    truth : optional :class:`Truth` (synthetic data), with parameters for every site.
    drop_sites_without_observations : sites without any observation are an error (they are listed);
        with ``True`` they are dropped with a warning that names them.
    check_units : reject SOC whose median is below 200 g C m-3 (percent or kg C m-3 by mistake).
    site_id, depth, soc : column names, if yours differ.

    Raises
    ------
    ValueError naming the file (or DataFrame), column, site and value: missing or misspelt columns
    (with the closest match), non-numeric values, missing covariates, negative / zero-thickness /
    too deep (> 10 m: centimetres?) depths, SOC in the wrong unit, duplicate site ids, observations
    of unknown sites, sites without observations, forcing that does not match the sites.
    """
    sites_label, obs_label = source_label(sites, "sites"), source_label(observations, "observations")
    site_table = check_sites(read_table(sites, "sites"), list(feature_names), sites_label,
                             isinstance(sites, (str, os.PathLike)), site_id)
    obs = check_observations(read_table(observations, "observations"), obs_label,
                             isinstance(observations, (str, os.PathLike)), site_id, depth, soc, check_units)
    unknown = pd.Index(obs[site_id].unique()).difference(site_table.index)
    if len(unknown):
        raise ValueError(f"{obs_label}: observations for {len(unknown)} site(s) not in {sites_label}: "
                         f"{name_list(list(unknown))}")
    arrays, ids, forcing_label = forcing_arrays(forcing)
    forcing_obj = build_forcing(arrays, ids, forcing_label, site_table.index, sites_label)

    without = site_table.index.difference(pd.Index(obs[site_id].unique()), sort=False)
    if len(without):
        if not drop_sites_without_observations:
            raise ValueError(
                f"{sites_label}: {len(without)} site(s) have no observation in {obs_label}: "
                f"{name_list(list(without))}. Add observations, remove the sites, or pass "
                f"drop_sites_without_observations=True"
            )
        warnings.warn(f"dropping {len(without)} site(s) without observations: {name_list(list(without))}",
                      stacklevel=2)
        keep = ~site_table.index.isin(without)
        site_table = site_table[keep]
        forcing_obj = forcing_obj[torch.from_numpy(np.flatnonzero(keep))]
    if truth is not None:
        absent = site_table.index.difference(truth.params.index)
        if len(absent):
            raise ValueError(f"truth: no parameters for site(s) {name_list(list(absent))}")
    obs = obs.rename(columns={site_id: "site_id"})
    site_table.index.name = "site_id"
    return SiteDataset(site_table, obs, forcing_obj, feature_names, truth, coord_name=depth, value_name=soc)
