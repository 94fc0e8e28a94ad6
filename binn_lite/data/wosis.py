"""Soil profiles from a WoSIS-like table: one row per horizon, turned into SOC density per depth.

WoSIS (the ISRIC World Soil Information Service; Batjes et al. 2020) publishes profiles as a long
table, one row per layer, with organic carbon as a mass fraction and the bulk density beside it.
:func:`read_profiles` turns such a table into the two tables
:func:`~binn_lite.data.files.read_dataset` takes: a site table (``site_id``, ``lon``, ``lat``) and
the observations (``site_id, depth_m, top_m, bottom_m, soc_gC_m3``), with

    SOC density (gC m-3) = organic carbon (g kg-1) x bulk density (kg dm-3) x 1000 (dm3 m-3)
                           x (1 - coarse fragments (volume %) / 100)

at the middle of each layer. Your column names go in ``columns`` (:data:`WOSIS_COLUMNS` are the
WoSIS names); a table that already holds SOC density needs ``soc_unit="gC m-3"`` and no bulk
density. Layers with a missing carbon or bulk density value are dropped with a warning that counts
them; any other problem raises a :class:`~binn_lite.errors.BinnInputError` naming the column.
"""
from __future__ import annotations

import os
import warnings
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import BinnInputError
from .files import read_table, source_label

__all__ = ["WOSIS_COLUMNS", "read_profiles"]

#: role -> the WoSIS column name (pass your own names as ``columns={role: name}``)
WOSIS_COLUMNS = {
    "site_id": "profile_id",
    "lon": "longitude",            # degrees east
    "lat": "latitude",             # degrees north
    "top": "upper_depth",          # cm
    "bottom": "lower_depth",       # cm
    "soc": "orgc_value_avg",       # g kg-1 (organic carbon, fine earth)
    "bulk_density": "bdfiod_value_avg",  # kg dm-3 (fine earth, oven dry)
    "coarse": "cfvo_value_avg",    # volume % of coarse fragments (optional)
}
_DEPTH_UNITS = {"cm": 0.01, "m": 1.0}
_SOC_UNITS = ("g/kg", "gC m-3")


def _number(table: pd.DataFrame, column: str, label: str) -> np.ndarray:
    values = pd.to_numeric(table[column].replace("", np.nan), errors="coerce")
    text = values.isna() & table[column].notna() & (table[column].astype(str).str.strip() != "")
    if text.any():
        row = int(np.flatnonzero(text.to_numpy())[0])
        raise BinnInputError(f"{label}: column {column!r} has text {table[column].iloc[row]!r} in row {row + 1}")
    return values.to_numpy(dtype=np.float64)


#: plausible bulk density of a soil layer, kg dm-3 (= g cm-3): peat ~0.05, mineral soils up to ~2.0
BULK_DENSITY_RANGE = (0.02, 2.65)


def _in_range(values: np.ndarray, low: float, high: float, column: str, unit: str, label: str) -> np.ndarray:
    """``values`` (NaN allowed), or a BinnInputError naming the first row outside ``[low, high]``."""
    bad = np.isfinite(values) & ((values < low) | (values > high)) | np.isinf(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise BinnInputError(f"{label}: column {column!r} must be in {low:g}..{high:g} {unit}; row {row + 1} has "
                             f"{values[row]:g}")
    return values


def read_profiles(table: str | os.PathLike | pd.DataFrame, columns: Mapping[str, str] | None = None, *,
                  depth_unit: str = "cm", soc_unit: str = "g/kg") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sites, observations) from a WoSIS-like table of horizons (see the module docstring).

    Parameters
    ----------
    table : a CSV path or a DataFrame, one row per layer.
    columns : role -> column name, overriding :data:`WOSIS_COLUMNS` (``"coarse"`` may be None).
    depth_unit : ``"cm"`` (WoSIS) or ``"m"`` for the top and bottom columns.
    soc_unit : ``"g/kg"`` (organic carbon mass fraction; needs the bulk density) or ``"gC m-3"``.

    Returns
    -------
    sites : DataFrame indexed by ``site_id`` with ``lon``, ``lat`` (add your covariates to it).
    observations : ``site_id, depth_m, top_m, bottom_m, soc_gC_m3`` (the middle of each layer).
    """
    if depth_unit not in _DEPTH_UNITS:
        raise BinnInputError(f"depth_unit must be one of {', '.join(_DEPTH_UNITS)}; got {depth_unit!r}")
    if soc_unit not in _SOC_UNITS:
        raise BinnInputError(f"soc_unit must be one of {', '.join(_SOC_UNITS)}; got {soc_unit!r}")
    names = {**WOSIS_COLUMNS, **dict(columns or {})}
    label = source_label(table, "profiles")
    frame = read_table(table, "profiles")
    needed = ["site_id", "lon", "lat", "top", "bottom", "soc"] + (["bulk_density"] if soc_unit == "g/kg" else [])
    missing = [f"{names[role]!r} ({role})" for role in needed if names.get(role) not in frame.columns]
    if missing:
        raise BinnInputError(f"{label}: missing column(s) {', '.join(missing)}; have {', '.join(frame.columns)}. "
                             "Name yours with columns={role: name}")
    scale = _DEPTH_UNITS[depth_unit]
    top, bottom = (_number(frame, names[r], label) * scale for r in ("top", "bottom"))
    soc = _number(frame, names["soc"], label)
    if soc_unit == "g/kg":
        coarse = names.get("coarse")
        fraction = 1.0
        if coarse in frame.columns:
            percent = _in_range(_number(frame, coarse, label), 0.0, 100.0, coarse, "volume %", label)
            if np.isnan(percent).any():
                warnings.warn(f"{label}: {int(np.isnan(percent).sum())} layer(s) without a coarse-fragment value "
                              f"({coarse!r}) are taken as free of coarse fragments (0 %)", stacklevel=2)
            fraction = 1.0 - np.nan_to_num(percent) / 100.0
        density = _in_range(_number(frame, names["bulk_density"], label), *BULK_DENSITY_RANGE,
                            names["bulk_density"], "kg dm-3 (= g cm-3)", label)
        soc = soc * density * 1000.0 * fraction
    keep = np.isfinite(soc) & np.isfinite(top) & np.isfinite(bottom)
    if not keep.all():
        warnings.warn(f"{label}: dropping {int((~keep).sum())} of {len(keep)} layer(s) without organic carbon, "
                      "bulk density or depths", stacklevel=2)
    bad = keep & ~(bottom > top) | keep & (top < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise BinnInputError(f"{label}: row {row + 1} has top {top[row] / scale:g} and bottom {bottom[row] / scale:g} "
                             f"{depth_unit}; need 0 <= top < bottom")
    ids = frame[names["site_id"]].astype(str).str.strip()
    observations = pd.DataFrame({"site_id": ids, "depth_m": 0.5 * (top + bottom), "top_m": top, "bottom_m": bottom,
                                 "soc_gC_m3": soc})[keep].reset_index(drop=True)
    located = pd.DataFrame({"site_id": ids, "lon": _number(frame, names["lon"], label),
                            "lat": _number(frame, names["lat"], label)})[keep]
    sites = located.groupby("site_id", sort=False).first()
    moved = located.groupby("site_id", sort=False)[["lon", "lat"]].nunique().max(axis=1) > 1
    if moved.any():
        raise BinnInputError(f"{label}: profile {moved.index[moved][0]!r} has layers at different locations")
    return sites, observations
