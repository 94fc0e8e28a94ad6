"""Checks of user data: every problem in a site table, observation table or forcing, named clearly.

:func:`~binn_lite.data.files.read_dataset` runs these checks; each error names the file (or
DataFrame), the column, the site (and CSV line) and the offending value, and suggests the fix:
misspelt columns get the closest existing name, centimetres and SOC in percent or kg C m-3 are
recognised by their magnitude, forcing is matched to the sites by id or order.
"""
from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..forcing import FORCING_FIELDS, Forcing

__all__ = ["check_sites", "check_observations", "forcing_arrays", "build_forcing", "read_table", "source_label",
           "name_list", "HORIZON_COLUMNS", "MAX_DEPTH_M", "SOC_MEDIAN_MIN", "SOC_MAX"]

#: observations deeper than this (m) are rejected (centimetres by mistake?)
MAX_DEPTH_M = 10.0
#: horizon columns of an observation table (m); optional, ``depth_m`` is then their middle
HORIZON_COLUMNS = ("top_m", "bottom_m")
#: observed SOC whose median is below this (gC m-3) is taken to be in another unit
SOC_MEDIAN_MIN = 200.0
#: SOC above this (gC m-3) is impossible (pure peat holds about 50,000-120,000 gC m-3)
SOC_MAX = 1.0e6


def source_label(obj: Any, what: str) -> str:
    """How errors name a table: the file name, or ``"<what> (DataFrame)"``."""
    return Path(obj).name if isinstance(obj, (str, os.PathLike)) else f"{what} (DataFrame)"


def read_table(obj: Any, what: str) -> pd.DataFrame:
    """A CSV path or a DataFrame as a DataFrame (CSV cells kept as text; a named index becomes a column)."""
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if not path.is_file():
            raise FileNotFoundError(f"{what}: no such file {str(path)!r}")
        return pd.read_csv(path, dtype=str, keep_default_na=True, skipinitialspace=True)
    if isinstance(obj, pd.DataFrame):
        frame = obj.copy()
        if frame.index.name is not None:
            frame = frame.reset_index()
        return frame
    raise TypeError(f"{what} must be a CSV path or a pandas DataFrame; got {type(obj).__name__}")


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    """Raise naming every missing column, with the closest existing name when there is one."""
    have = [str(c) for c in frame.columns]
    problems = []
    for name in columns:
        if name in have:
            continue
        hint = ([c for c in have if c.lower() == name.lower()]
                or difflib.get_close_matches(name, have, n=1, cutoff=0.6)
                or [c for c in have if len(c) >= 3 and (name.lower().startswith(c.lower())
                                                        or c.lower().startswith(name.lower()))])
        problems.append(f"missing column {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    if problems:
        raise ValueError(f"{source}: {'; '.join(problems)}. Columns present: {', '.join(have)}")


def _row_label(frame: pd.DataFrame, i: int, is_file: bool, id_column: str) -> str:
    where = f"site {frame[id_column].iloc[i]!r}" if id_column in frame.columns else f"row {i}"
    return where + (f" (line {i + 2})" if is_file else "")


def _numeric(frame: pd.DataFrame, column: str, source: str, is_file: bool, id_column: str,
             allow_nan: bool = False, what: str = "value") -> np.ndarray:
    """Column as float64; raise naming file, column, site and value for text or missing entries."""
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw):
        raise ValueError(f"{source}: column {column!r} holds true/false values, not numbers")
    values = pd.to_numeric(raw, errors="coerce")
    text = raw.notna() & values.isna()
    if text.any():
        i = int(np.flatnonzero(text.to_numpy())[0])
        raise ValueError(f"{source}: column {column!r} has a non-numeric value {raw.iloc[i]!r} at "
                         f"{_row_label(frame, i, is_file, id_column)}")
    array = values.to_numpy(dtype=np.float64)
    if not allow_nan:
        bad = ~np.isfinite(array)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{source}: column {column!r} is missing (NaN or empty) a {what} at "
                             f"{_row_label(frame, i, is_file, id_column)}; {int(bad.sum())} row(s) affected. "
                             f"Fill them or remove those rows")
    return array


def name_list(items: Sequence[Any], limit: int = 10) -> str:
    """``'a', 'b', ... and 5 more``: the first ``limit`` items for an error message."""
    shown = ", ".join(repr(x) for x in list(items)[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_sites(frame: pd.DataFrame, features: Sequence[str], source: str, is_file: bool,
                site_id: str) -> pd.DataFrame:
    """The site table indexed by ``site_id``: unique ids, numeric ``features``, lon/lat in range."""
    _require_columns(frame, [site_id, *features], source)
    ids = frame[site_id]
    if ids.isna().any():
        i = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise ValueError(f"{source}: column {site_id!r} is empty at row {i}" + (f" (line {i + 2})" if is_file else ""))
    frame = frame.copy()
    frame[site_id] = ids.astype(str).str.strip()
    duplicated = frame[site_id][frame[site_id].duplicated()].unique()
    if len(duplicated):
        raise ValueError(f"{source}: duplicate site id(s) {name_list(duplicated)}; every site needs a unique id")
    numeric = [*features] + [c for c in ("lon", "lat", "elevation") if c in frame.columns and c not in features]
    for column in numeric:
        frame[column] = _numeric(frame, column, source, is_file, site_id, what="covariate")
    for column, low, high in (("lon", -180.0, 180.0), ("lat", -90.0, 90.0)):
        if column in frame.columns:
            bad = (frame[column] < low) | (frame[column] > high)
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise ValueError(f"{source}: column {column!r} must be in [{low:g}, {high:g}] degrees; "
                                 f"{_row_label(frame, i, is_file, site_id)} has {frame[column].iloc[i]:g}")
    for column in frame.columns:  # other columns: numbers where they look like numbers, text otherwise
        if column in numeric or column == site_id:
            continue
        converted = pd.to_numeric(frame[column], errors="coerce")
        if converted.notna().sum() == frame[column].notna().sum():
            frame[column] = converted
    return frame.set_index(site_id)


def check_observations(frame: pd.DataFrame, source: str, is_file: bool, site_id: str, depth: str, soc: str,
                       check_units: bool) -> pd.DataFrame:
    """The observation table with numeric depths (m, 0 < z <= 10, inside their horizon) and SOC (gC m-3).

    With ``check_units`` a median SOC below :data:`SOC_MEDIAN_MIN` (percent or kg C m-3?) or a
    value above :data:`SOC_MAX` is an error.
    """
    has_horizons = all(c in frame.columns for c in HORIZON_COLUMNS)
    _require_columns(frame, [site_id, soc] + ([] if has_horizons else [depth]), source)
    frame = frame.copy()
    if frame[site_id].isna().any():
        i = int(np.flatnonzero(frame[site_id].isna().to_numpy())[0])
        raise ValueError(f"{source}: column {site_id!r} is empty at row {i}" + (f" (line {i + 2})" if is_file else ""))
    frame[site_id] = frame[site_id].astype(str).str.strip()
    label = lambda i: _row_label(frame, i, is_file, site_id)  # noqa: E731

    if has_horizons:
        top = _numeric(frame, "top_m", source, is_file, site_id, what="horizon top")
        bottom = _numeric(frame, "bottom_m", source, is_file, site_id, what="horizon bottom")
        for name, values in (("top_m", top), ("bottom_m", bottom)):
            if (values < 0).any():
                i = int(np.flatnonzero(values < 0)[0])
                raise ValueError(f"{source}: negative depth in column {name!r}: {values[i]:g} m at {label(i)}; "
                                 f"depths are positive downwards from the surface")
        thin = bottom <= top
        if thin.any():
            i = int(np.flatnonzero(thin)[0])
            kind = "zero-thickness" if bottom[i] == top[i] else "upside-down"
            raise ValueError(f"{source}: {kind} horizon at {label(i)}: top_m = {top[i]:g} m, bottom_m = "
                             f"{bottom[i]:g} m; bottom must be deeper than top")
        frame["top_m"], frame["bottom_m"] = top, bottom
        if depth not in frame.columns:
            frame[depth] = 0.5 * (top + bottom)
    z = _numeric(frame, depth, source, is_file, site_id, what="depth")
    if (z < 0).any():
        i = int(np.flatnonzero(z < 0)[0])
        raise ValueError(f"{source}: negative depth in column {depth!r}: {z[i]:g} m at {label(i)}; "
                         f"depths are positive downwards from the surface (m)")
    if (z == 0).any():
        i = int(np.flatnonzero(z == 0)[0])
        raise ValueError(f"{source}: depth exactly 0 m (a zero-thickness sample at the surface) in column "
                         f"{depth!r} at {label(i)}; give the middle of the sampled horizon, e.g. 0.05 m for 0-10 cm")
    if (z > MAX_DEPTH_M).any():
        i = int(np.argmax(z))
        raise ValueError(f"{source}: depth {z[i]:g} m in column {depth!r} at {label(i)} is deeper than "
                         f"{MAX_DEPTH_M:g} m; are these centimetres? Divide by 100 to get metres")
    if has_horizons:
        outside = (z < frame["top_m"].to_numpy()) | (z > frame["bottom_m"].to_numpy())
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise ValueError(f"{source}: depth {z[i]:g} m at {label(i)} lies outside its horizon "
                             f"{frame['top_m'].iloc[i]:g}-{frame['bottom_m'].iloc[i]:g} m")
    frame[depth] = z

    values = _numeric(frame, soc, source, is_file, site_id, what="SOC value")
    if (values < 0).any():
        i = int(np.flatnonzero(values < 0)[0])
        raise ValueError(f"{source}: negative SOC {values[i]:g} in column {soc!r} at {label(i)}")
    if check_units and len(values):
        median = float(np.median(values))
        if median < SOC_MEDIAN_MIN:
            guess = ("percent (g C per 100 g soil): multiply by bulk density (g cm-3) x 10,000"
                     if median < 5.0 else
                     "kg C m-3 (multiply by 1,000) or g C kg-1 (multiply by bulk density in kg m-3)")
            raise ValueError(
                f"{source}: column {soc!r} should be SOC density in g C m-3 (typically 1,000-100,000), but its "
                f"median is {median:.3g}; it looks like {guess}. Pass check_units=False if the values are right"
            )
        if values.max() > SOC_MAX:
            i = int(np.argmax(values))
            raise ValueError(
                f"{source}: SOC {values[i]:.4g} g C m-3 in column {soc!r} at {label(i)} is impossible (over "
                f"{SOC_MAX:,.0f} g C m-3; peat holds about 100,000); is it in mg C m-3 or another unit?"
            )
    frame[soc] = values
    return frame


def forcing_arrays(forcing: Any) -> tuple[dict[str, np.ndarray], np.ndarray | None, str]:
    """(field arrays, site ids or None, label) from an NPZ path, a Forcing or a dict of arrays."""
    if isinstance(forcing, (str, os.PathLike)):
        path = Path(forcing)
        if not path.is_file():
            raise FileNotFoundError(f"forcing: no such file {str(path)!r}")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        label = path.name
    elif isinstance(forcing, Forcing):
        arrays, label = forcing.to_numpy(), "forcing (Forcing)"
    elif isinstance(forcing, Mapping):
        arrays = {k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
                  for k, v in forcing.items()}
        label = "forcing (dict)"
    else:
        raise TypeError(f"forcing must be an NPZ path, a Forcing or a dict of arrays; got {type(forcing).__name__}")
    ids = arrays.pop("site_id", None)
    unknown = sorted(set(arrays) - set(FORCING_FIELDS))
    if unknown:
        hints = [difflib.get_close_matches(u, list(FORCING_FIELDS), n=1, cutoff=0.6) for u in unknown]
        described = [u + (f" (did you mean {h[0]!r}?)" if h else "") for u, h in zip(unknown, hints)]
        raise ValueError(f"{label}: unknown forcing field(s) {', '.join(described)}; expected {', '.join(FORCING_FIELDS)}")
    missing = [f for f in FORCING_FIELDS if f not in arrays]
    if missing:
        raise ValueError(f"{label}: missing forcing field(s) {', '.join(missing)}")
    return arrays, (None if ids is None else np.array([str(s) for s in ids])), label


def build_forcing(arrays: dict[str, np.ndarray], ids: np.ndarray | None, label: str, site_ids: pd.Index,
                  source_sites: str) -> Forcing:
    """A :class:`~binn_lite.forcing.Forcing` in the order of ``site_ids``, matched by id if the forcing has ids."""
    lengths = {name: (a.shape[0] if a.ndim else 0) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{label}: forcing fields have different numbers of sites: {lengths}")
    n = next(iter(lengths.values()))
    if ids is not None:
        if len(ids) != n:
            raise ValueError(f"{label}: 'site_id' has {len(ids)} entries but the fields have {n} sites")
        absent = site_ids.difference(pd.Index(ids))
        if len(absent):
            raise ValueError(f"{label}: no forcing for site(s) {name_list(list(absent))} of {source_sites}")
        order = pd.Index(ids).get_indexer(site_ids)
        arrays = {k: v[order] for k, v in arrays.items()}
    elif n != len(site_ids):
        raise ValueError(f"{label} has {n} sites but {source_sites} has {len(site_ids)}; the forcing must have "
                         f"one entry per site, in the order of the site table (or carry a 'site_id' array)")
    try:
        return Forcing.from_numpy(**arrays)
    except ValueError as error:
        message = str(error)
        found = re.search(r"\bsite (\d+)\b", message)
        if found:
            message += f" (site {found.group(1)} is {site_ids[int(found.group(1))]!r})"
        raise ValueError(f"{label}: {message}") from None
