"""Checks of user data: every problem in a site table, observation table or forcing, named clearly.

:func:`~binn_lite.data.files.read_dataset` reads the files (:mod:`binn_lite.data.files`) and runs
these checks on their content. Every problem raises :class:`~binn_lite.errors.BinnInputError` with
a message that names the file (or DataFrame), the column, the site (and CSV line) and the value,
and says how to fix it. Nothing is dropped, filled or guessed silently.

What is checked, by input kind:

* **ids** (``site_id`` of sites, observations and forcing): none missing (empty, ``NA``, ``NaN``,
  ``null``), none duplicated in the site table or the forcing; ids are compared as text, so ``1``,
  ``1.0`` (a number) and ``"1"`` are the same site, but ``"01"`` and ``"1"`` are not (the message
  suggests the near match).
* **numbers** (covariates, depths, SOC): text (``'6,5'``, ``'12 cm'``), missing (NaN or empty) and
  infinite values are three different errors, each naming the value.
* **units**: lon/lat within their range; SOC whose median is below :data:`SOC_MEDIAN_MIN` or a
  value above :data:`SOC_MAX` (percent, kg C m-3, mg C m-3 by mistake); depths in centimetres (see
  :func:`check_depth_units` for the rule and why).
* **forcing**: the CLM5 fields, each checked by :class:`~binn_lite.forcing.Forcing`; matched to the
  sites by ``site_id`` only (missing ids are an error, extra ones a warning, duplicates an error);
  a forcing without ids is refused unless the caller says it follows the site table's row order.
"""
from __future__ import annotations

import difflib
import re
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import BinnInputError
from ..forcing import FORCING_FIELDS, Forcing

__all__ = ["check_sites", "check_observations", "check_depth_units", "check_forcing_fields", "build_forcing",
           "site_id_text", "require_columns", "name_list", "HORIZON_COLUMNS", "MAX_DEPTH_M", "MAX_HORIZON_M",
           "SHALLOWEST_MAX_M", "SOC_MEDIAN_MIN", "SOC_MAX", "MISSING_TOKENS"]

#: observations deeper than this (m) are rejected (centimetres by mistake?)
MAX_DEPTH_M = 10.0
#: a horizon thicker than this (m) means top_m / bottom_m are in centimetres (unless check_units=False)
MAX_HORIZON_M = 2.0
#: a profile whose shallowest sample is deeper than this (m) is in centimetres (unless check_units=False)
SHALLOWEST_MAX_M = 1.0
#: horizon columns of an observation table (m); optional, ``depth_m`` is then their middle
HORIZON_COLUMNS = ("top_m", "bottom_m")
#: observed SOC whose median is below this (gC m-3) is taken to be in another unit
SOC_MEDIAN_MIN = 200.0
#: SOC above this (gC m-3) is impossible (pure peat holds about 50,000-120,000 gC m-3)
SOC_MAX = 1.0e6
#: cell texts that mean "no value" (compared stripped and lower-case), as spreadsheets write them
MISSING_TOKENS = frozenset({"", "na", "n/a", "#n/a", "nan", "-nan", "null", "none", "<na>", "#na"})


def name_list(items: Sequence[Any], limit: int = 10) -> str:
    """``'a', 'b', ... and 5 more``: the first ``limit`` items for an error message."""
    shown = ", ".join(repr(x) for x in list(items)[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _where(frame: pd.DataFrame, i: int, is_file: bool, id_column: str) -> str:
    """``site 'S1' (line 3)``: where row ``i`` of a table is, for an error message."""
    site = frame[id_column].iloc[i] if id_column in frame.columns else None
    where = f"site {site!r}" if isinstance(site, str) else f"row {i}"
    return where + (f" (line {i + 2})" if is_file else "")


# ---------------------------------------------------------------------------------------------
# Columns, ids and numbers
# ---------------------------------------------------------------------------------------------
def require_columns(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
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
    if not problems:
        return
    if len(have) == 1 and len(columns) > 1:
        problems.append(f"the whole header was read as one column {have[0][:60]!r}: is the file comma-separated?")
    raise BinnInputError(f"{source}: {'; '.join(problems)}. Columns present: {name_list(have, 15)}")


def site_id_text(values: Any) -> list[str | None]:
    """Site ids as text, the form in which ids are compared; ``None`` where an id is missing.

    Text is stripped; numbers become their shortest text, whole numbers without decimals (``1``,
    ``1.0`` and ``"1"`` are one id). Empty cells, NaN and :data:`MISSING_TOKENS` are missing.
    """
    out: list[str | None] = []
    for v in list(values):
        if isinstance(v, (bytes, np.bytes_)):
            v = v.decode("utf-8", "replace")
        if isinstance(v, (bool, np.bool_)):
            out.append(str(bool(v)))
        elif isinstance(v, (int, np.integer)):
            out.append(str(int(v)))
        elif isinstance(v, (float, np.floating)):
            out.append(None if not np.isfinite(v) else str(int(v)) if float(v).is_integer() else repr(float(v)))
        elif v is None or v is pd.NA or v is pd.NaT:
            out.append(None)
        else:
            text = str(v).strip()
            out.append(None if text.lower() in MISSING_TOKENS else text)
    return out


def _id_key(text: str) -> str:
    """A loose form of an id (case, leading zeros, a trailing '.0' ignored) to suggest near matches."""
    return re.sub(r"(?<![0-9])0+(?=[0-9])", "", text.casefold()).removesuffix(".0")


def near_matches(unknown: Sequence[str], known: Sequence[str]) -> str:
    """`` (did you mean 'S01' for 'S1'?)`` when ids differ only in case, leading zeros or '.0'."""
    keys = {_id_key(k): k for k in known}
    pairs = [(u, keys[_id_key(u)]) for u in unknown if _id_key(u) in keys][:3]
    if not pairs:
        return ""
    return (" (did you mean " + ", ".join(f"{k!r} for {u!r}" for u, k in pairs)
            + "? ids must match exactly as text: case and leading zeros count)")


def _check_ids(frame: pd.DataFrame, column: str, source: str, is_file: bool) -> pd.DataFrame:
    """``frame`` with its id column as text (:func:`site_id_text`); raise where an id is missing."""
    frame = frame.copy()
    raw = frame[column]
    ids = site_id_text(raw)
    missing = [i for i, s in enumerate(ids) if s is None]
    if missing:
        i = missing[0]
        raise BinnInputError(f"{source}: column {column!r} has no site id at row {i}"
                             + (f" (line {i + 2})" if is_file else "") + f" (value {raw.iloc[i]!r}); "
                             f"{len(missing)} row(s) affected. Every row needs a site id "
                             f"(empty cells, 'NA', 'NaN' and 'null' count as missing)")
    frame[column] = pd.Series(ids, index=frame.index)
    return frame


def _text_hint(value: str) -> str:
    """Why a text cell is not a number, when it can be guessed."""
    if re.fullmatch(r"\s*[-+]?\d+(,\d+)+\s*", value):
        return " (a decimal comma or a thousands separator? write numbers as 1.5, without separators)"
    if re.fullmatch(r"\s*[-+]?[\d.]+(e[-+]?\d+)?\s*[^\d\s.,].*", value, flags=re.IGNORECASE):
        return " (a unit in the cell? write the number only; each column has a fixed unit)"
    return ""


_MISSING = object()  # marks a missing cell in _as_number


#: a number as a cell may hold it: optional sign, digits with an optional decimal point, optional
#: exponent; or inf / infinity in any case. Matched case-sensitively, with the letters spelled out:
#: under IGNORECASE the Turkish dotless and dotted i would match too, and float() refuses them
_NUMBER = r"(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)"


def _as_number(cell: Any) -> Any:
    """A table cell as a float, ``_MISSING`` for an empty/NA cell, or None for text that is no number."""
    if cell is None or cell is pd.NA or cell is pd.NaT:
        return _MISSING
    if isinstance(cell, (bool, np.bool_)):
        return None
    if isinstance(cell, (int, np.integer)):
        return float(cell) if abs(cell) < 2 ** 1023 else np.inf * np.sign(cell)
    if isinstance(cell, (float, np.floating)):
        return _MISSING if np.isnan(cell) else float(cell)
    if not isinstance(cell, str):
        return None
    text = cell.strip()
    if text.lower() in MISSING_TOKENS:
        return _MISSING
    if not re.fullmatch(_NUMBER, text):
        return None
    return float(text)


def _parse_cells(raw: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, missing, text) of a column that is not numeric: each cell as :func:`_as_number`
    reads it (float64 with NaN where missing or text; the two masks). A column of strings and
    missing cells, as every column of a file is read, is parsed with pandas' vectorised string
    methods on Python strings (``object``: Python's ``re`` and ``str.strip``, as for one cell,
    whatever the column's string dtype; pyarrow's regex engine reads ``\\d`` as ASCII digits only);
    other mixtures (a DataFrame column of ints and strings, ...) cell by cell."""
    if pd.api.types.infer_dtype(raw, skipna=True) in ("string", "empty"):
        stripped = raw.astype(object).str.strip()
        missing = (raw.isna() | stripped.str.lower().isin(MISSING_TOKENS)).to_numpy(dtype=bool)
        number = stripped.str.fullmatch(_NUMBER, na=False).to_numpy(dtype=bool) & ~missing
        values = np.full(len(raw), np.nan)
        values[number] = stripped[number].astype(np.float64).to_numpy()
        return values, missing, ~(missing | number)
    cells = [_as_number(c) for c in raw]
    missing = np.array([c is _MISSING for c in cells], dtype=bool)
    text = np.array([c is None for c in cells], dtype=bool)
    values = np.array([np.nan if (m or t) else c for c, m, t in zip(cells, missing, text)], dtype=np.float64)
    return values, missing, text


def numeric_column(frame: pd.DataFrame, column: str, source: str, is_file: bool, id_column: str,
                   what: str = "value") -> np.ndarray:
    """A column as finite float64; raise naming file, column, site and value otherwise.

    Three problems are told apart: text that is not a number, a missing value (empty, NaN, 'NA')
    and an infinite one ('inf', or a number too large for float64 such as 1e999).
    """
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw):
        raise BinnInputError(f"{source}: column {column!r} holds true/false values, not numbers")
    if (pd.api.types.is_datetime64_any_dtype(raw) or pd.api.types.is_timedelta64_dtype(raw)
            or pd.api.types.is_complex_dtype(raw)):
        raise BinnInputError(f"{source}: column {column!r} holds {raw.dtype} values, not real numbers")
    if pd.api.types.is_numeric_dtype(raw):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        missing, text = np.isnan(values), np.zeros(len(values), dtype=bool)
    else:
        values, missing, text = _parse_cells(raw)
    first = lambda bad: (int(np.flatnonzero(bad)[0]), int(bad.sum()))  # noqa: E731
    if text.any():
        i, count = first(text)
        value = raw.iloc[i]
        hint = _text_hint(value) if isinstance(value, str) else ""
        raise BinnInputError(f"{source}: column {column!r} has a non-numeric value {value!r} at "
                             f"{_where(frame, i, is_file, id_column)}{hint}; {count} row(s) affected")
    if missing.any():
        i, count = first(missing)
        raise BinnInputError(f"{source}: column {column!r} ({what}) has a missing value (NaN or empty) at "
                             f"{_where(frame, i, is_file, id_column)}; {count} row(s) affected. "
                             f"Fill them or remove those rows")
    if np.isinf(values).any():
        i, count = first(np.isinf(values))
        raise BinnInputError(f"{source}: column {column!r} has an infinite {what} ({raw.iloc[i]!r}) at "
                             f"{_where(frame, i, is_file, id_column)}; {count} row(s) affected. Not a missing "
                             f"value: an overflow, a division by zero in a spreadsheet, or a number too large "
                             f"for float64?")
    return values


# ---------------------------------------------------------------------------------------------
# Site table
# ---------------------------------------------------------------------------------------------
def check_sites(frame: pd.DataFrame, features: Sequence[str], source: str, is_file: bool,
                site_id: str) -> pd.DataFrame:
    """The site table indexed by ``site_id``: unique ids, finite numeric ``features``, lon/lat in range."""
    hint = "" if site_id in frame.columns else f" (or name the index {site_id!r})"
    try:
        require_columns(frame, [site_id, *features], source)
    except BinnInputError as error:
        raise BinnInputError(f"{error}{hint}") from None
    frame = _check_ids(frame, site_id, source, is_file)
    counts = frame[site_id].value_counts()
    duplicated = counts[counts > 1]
    if len(duplicated):
        lines = [f"{s!r} ({n} times)" for s, n in duplicated.items()]
        raise BinnInputError(f"{source}: duplicate site id(s) {', '.join(lines[:10])}"
                             + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")
                             + "; every site needs a unique id")
    numeric = [*features] + [c for c in ("lon", "lat", "elevation") if c in frame.columns and c not in features]
    for column in numeric:
        frame[column] = numeric_column(frame, column, source, is_file, site_id, what="covariate")
    for column, low, high in (("lon", -180.0, 180.0), ("lat", -90.0, 90.0)):
        if column in frame.columns:
            bad = (frame[column] < low) | (frame[column] > high)
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise BinnInputError(f"{source}: column {column!r} must be in [{low:g}, {high:g}] degrees; "
                                     f"{_where(frame, i, is_file, site_id)} has {frame[column].iloc[i]:g}")
    for column in frame.columns:  # other columns: numbers where they all look like numbers, text otherwise
        if column in numeric or column == site_id:
            continue
        cells = frame[column].map(lambda c: np.nan if isinstance(c, str) and c.strip().lower() in MISSING_TOKENS
                                  else c).astype(object)
        converted = pd.to_numeric(cells, errors="coerce")
        frame[column] = converted if converted.notna().sum() == cells.notna().sum() else frame[column]
    return frame.set_index(site_id)


# ---------------------------------------------------------------------------------------------
# Observation table
# ---------------------------------------------------------------------------------------------
def check_observations(frame: pd.DataFrame, source: str, is_file: bool, site_id: str, depth: str, soc: str,
                       check_units: bool) -> pd.DataFrame:
    """The observation table with numeric depths (m, 0 < z <= 10, inside their horizon) and SOC (gC m-3).

    With ``check_units``, depths in centimetres (:func:`check_depth_units`), a median SOC below
    :data:`SOC_MEDIAN_MIN` (percent or kg C m-3?) or a value above :data:`SOC_MAX` are errors.
    """
    has_horizons = all(c in frame.columns for c in HORIZON_COLUMNS)
    require_columns(frame, [site_id, soc] + ([] if has_horizons else [depth]), source)
    frame = _check_ids(frame, site_id, source, is_file)
    label = lambda i: _where(frame, i, is_file, site_id)  # noqa: E731

    if has_horizons:
        top = numeric_column(frame, "top_m", source, is_file, site_id, what="horizon top")
        bottom = numeric_column(frame, "bottom_m", source, is_file, site_id, what="horizon bottom")
        for name, values in (("top_m", top), ("bottom_m", bottom)):
            if (values < 0).any():
                i = int(np.flatnonzero(values < 0)[0])
                raise BinnInputError(f"{source}: negative depth in column {name!r}: {values[i]:g} m at {label(i)}; "
                                     f"depths are positive downwards from the surface")
        thin = bottom <= top
        if thin.any():
            i = int(np.flatnonzero(thin)[0])
            kind = "zero-thickness" if bottom[i] == top[i] else "upside-down"
            raise BinnInputError(f"{source}: {kind} horizon at {label(i)}: top_m = {top[i]:g} m, bottom_m = "
                                 f"{bottom[i]:g} m; bottom must be deeper than top")
        frame["top_m"], frame["bottom_m"] = top, bottom
        if depth not in frame.columns:
            frame[depth] = 0.5 * (top + bottom)
    z = numeric_column(frame, depth, source, is_file, site_id, what="depth")
    if (z < 0).any():
        i = int(np.flatnonzero(z < 0)[0])
        raise BinnInputError(f"{source}: negative depth in column {depth!r}: {z[i]:g} m at {label(i)}; "
                             f"depths are positive downwards from the surface (m)")
    if (z == 0).any():
        i = int(np.flatnonzero(z == 0)[0])
        raise BinnInputError(f"{source}: depth exactly 0 m (a zero-thickness sample at the surface) in column "
                             f"{depth!r} at {label(i)}; give the middle of the sampled horizon, e.g. 0.05 m for 0-10 cm")
    if (z > MAX_DEPTH_M).any():
        i = int(np.argmax(z))
        raise BinnInputError(f"{source}: depth {z[i]:g} m in column {depth!r} at {label(i)} is deeper than "
                             f"{MAX_DEPTH_M:g} m; are these centimetres? Divide by 100 to get metres")
    if has_horizons:
        outside = (z < frame["top_m"].to_numpy()) | (z > frame["bottom_m"].to_numpy())
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise BinnInputError(f"{source}: depth {z[i]:g} m at {label(i)} lies outside its horizon "
                                 f"{frame['top_m'].iloc[i]:g}-{frame['bottom_m'].iloc[i]:g} m")
    frame[depth] = z
    if check_units:
        check_depth_units(frame, source, is_file, site_id, depth)

    values = numeric_column(frame, soc, source, is_file, site_id, what="SOC value")
    if (values < 0).any():
        i = int(np.flatnonzero(values < 0)[0])
        raise BinnInputError(f"{source}: negative SOC {values[i]:g} in column {soc!r} at {label(i)}")
    if check_units and len(values):
        median = float(np.median(values))
        if median < SOC_MEDIAN_MIN:
            guess = ("percent (g C per 100 g soil): multiply by bulk density (g cm-3) x 10,000"
                     if median < 5.0 else
                     "kg C m-3 (multiply by 1,000) or g C kg-1 (multiply by bulk density in kg m-3)")
            raise BinnInputError(
                f"{source}: column {soc!r} should be SOC density in g C m-3 (typically 1,000-100,000), but its "
                f"median is {median:.3g}; it looks like {guess}. Pass check_units=False if the values are right"
            )
        if values.max() > SOC_MAX:
            i = int(np.argmax(values))
            raise BinnInputError(
                f"{source}: SOC {values[i]:.4g} g C m-3 in column {soc!r} at {label(i)} is impossible (over "
                f"{SOC_MAX:,.0f} g C m-3; peat holds about 100,000); is it in mg C m-3 or another unit?"
            )
    frame[soc] = values
    return frame


def check_depth_units(frame: pd.DataFrame, source: str, is_file: bool, site_id: str, depth: str) -> None:
    """Raise if depths (already numeric, 0 < z <= 10) look like centimetres rather than metres.

    A depth of 5 is 5 m or 5 cm; magnitude alone cannot tell below :data:`MAX_DEPTH_M`. Two
    properties of every soil profile can, and each catches centimetres whatever their range:

    1. A profile is sampled from the surface down, so its shallowest sample lies in the top metre
       (in the ISCN/WoSIS databases the top horizon's middle is a few cm to a few tens of cm). In
       centimetres the shallowest middle is 1-15, read as metres 1-15 m. So a *site* whose
       shallowest depth is over :data:`SHALLOWEST_MAX_M` (1 m) is taken as centimetres. Being per
       site, this also catches one profile in centimetres among many in metres.
    2. A sampled horizon is a few cm to about a metre thick; in centimetres a 5 cm horizon reads
       as 5 m. A horizon thicker than :data:`MAX_HORIZON_M` (2 m) is taken as centimetres.

    Neither uses integer-ness (metre depths such as 1 or 2 are possible in deep cores) nor the
    dataset's maximum (a cm profile 0-10 cm never exceeds 10). Profiles that really have no sample
    in the top metre, or horizons over 2 m thick, are accepted with ``check_units=False``.
    """
    bypass = "Pass check_units=False if the depths really are in metres"
    if all(c in frame.columns for c in HORIZON_COLUMNS):
        thickness = frame["bottom_m"].to_numpy() - frame["top_m"].to_numpy()
        if (thickness > MAX_HORIZON_M).any():
            i = int(np.argmax(thickness))
            raise BinnInputError(
                f"{source}: horizon {frame['top_m'].iloc[i]:g}-{frame['bottom_m'].iloc[i]:g} m at "
                f"{_where(frame, i, is_file, site_id)} is {thickness[i]:g} m thick (over {MAX_HORIZON_M:g} m); "
                f"are 'top_m' and 'bottom_m' in centimetres? Divide by 100 to get metres. {bypass}")
    shallowest = frame.groupby(site_id, sort=False)[depth].min()
    deep = shallowest[shallowest > SHALLOWEST_MAX_M]
    if len(deep):
        site, z = deep.index[0], float(deep.iloc[0])
        raise BinnInputError(
            f"{source}: the shallowest sample of site {site!r} is at {z:g} m (column {depth!r}); a soil profile "
            f"is sampled from the surface, so its depths look like centimetres. Divide by 100 to get metres. "
            f"{len(deep)} site(s) affected: {name_list(list(deep.index))}. {bypass}")


# ---------------------------------------------------------------------------------------------
# Forcing
# ---------------------------------------------------------------------------------------------
def check_forcing_fields(arrays: dict[str, np.ndarray], label: str) -> None:
    """Raise for unknown (with the closest known name) or missing CLM5 forcing fields."""
    unknown = sorted(set(arrays) - set(FORCING_FIELDS))
    if unknown:
        hints = [difflib.get_close_matches(u, list(FORCING_FIELDS), n=1, cutoff=0.6) for u in unknown]
        described = [u + (f" (did you mean {h[0]!r}?)" if h else "") for u, h in zip(unknown, hints)]
        raise BinnInputError(f"{label}: unknown forcing field(s) {', '.join(described)}; "
                             f"expected {', '.join(FORCING_FIELDS)} and optionally 'site_id'")
    missing = [f for f in FORCING_FIELDS if f not in arrays]
    if missing:
        raise BinnInputError(f"{label}: missing forcing field(s) {', '.join(missing)}")


def _match_by_id(arrays: dict[str, np.ndarray], ids: np.ndarray, n: int, label: str, site_ids: pd.Index,
                 source_sites: str) -> dict[str, np.ndarray]:
    """The forcing rows in the order of ``site_ids``; raise for missing, empty or duplicated ids."""
    if ids.ndim != 1 or len(ids) != n:
        raise BinnInputError(f"{label}: 'site_id' has shape {ids.shape} but the fields have {n} sites; "
                             f"give one id per site")
    text = site_id_text(ids)
    empty = [i for i, s in enumerate(text) if s is None]
    if empty:
        raise BinnInputError(f"{label}: 'site_id' is missing at forcing entry {empty[0]} (value {ids[empty[0]]!r}); "
                             f"{len(empty)} entr(y/ies) affected")
    index = pd.Index(text, dtype=object)
    counts = index.value_counts()
    duplicated = counts[counts > 1]
    if len(duplicated):
        lines = [f"{s!r} ({k} times)" for s, k in duplicated.items()]
        raise BinnInputError(f"{label}: duplicate site id(s) in the forcing: {', '.join(lines[:10])}; each site "
                             f"needs exactly one forcing entry")
    absent = site_ids.difference(index, sort=False)
    if len(absent):
        raise BinnInputError(f"{label}: no forcing for site(s) {name_list(list(absent))} of {source_sites}"
                             + near_matches(list(absent), list(index)))
    extra = index.difference(site_ids, sort=False)
    if len(extra):
        warnings.warn(f"{label}: ignoring the forcing of {len(extra)} site(s) not in {source_sites}: "
                      f"{name_list(list(extra))}", stacklevel=4)
    order = index.get_indexer(site_ids)
    return {k: v[order] for k, v in arrays.items()}


def build_forcing(arrays: dict[str, np.ndarray], ids: np.ndarray | None, label: str, site_ids: pd.Index,
                  source_sites: str, in_site_order: bool = False) -> Forcing:
    """A :class:`~binn_lite.forcing.Forcing` in the order of ``site_ids``, matched by the forcing's ``site_id``.

    Without ids the entries are matched by position only if ``in_site_order`` (the caller's word
    that they follow the rows of the site table) or if there is a single site; otherwise refused:
    a forcing saved for a differently sorted site table would silently drive the wrong sites.
    """
    lengths = {name: (a.shape[0] if a.ndim else 0) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise BinnInputError(f"{label}: forcing fields have different numbers of sites: {lengths}")
    n = next(iter(lengths.values()))
    if ids is not None:
        arrays = _match_by_id(arrays, np.asarray(ids), n, label, site_ids, source_sites)
    elif n != len(site_ids):
        raise BinnInputError(f"{label} has {n} sites but {source_sites} has {len(site_ids)}; the forcing must have "
                             f"one entry per site, with a 'site_id' array naming them")
    elif n > 1 and not in_site_order:
        raise BinnInputError(
            f"{label} has no 'site_id' array, so its {n} entries cannot be matched to the sites of {source_sites} "
            f"(matching by position would give the wrong forcing if either was sorted differently). Add the ids: "
            f"numpy.savez(path, site_id=ids, **fields), or the dict {{**forcing.to_numpy(), 'site_id': ids}}; or pass "
            f"forcing_in_site_order=True if the entries follow the rows of {source_sites}")
    try:
        return Forcing.from_numpy(**arrays)
    except (ValueError, TypeError, RuntimeError) as error:
        message = str(error)
        found = re.search(r"\bsite (\d+)\b", message)
        if found and int(found.group(1)) < len(site_ids):
            message += f" (site {found.group(1)} is {site_ids[int(found.group(1))]!r})"
        raise BinnInputError(f"{label}: {message}") from None
