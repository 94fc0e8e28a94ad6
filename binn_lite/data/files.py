"""A dataset as open files, and back: ``save_dataset`` writes them, ``read_dataset`` reads and checks them.

The files (:data:`DATASET_FILES`; the bundled example in ``data/`` is such a folder):

* ``sites.csv`` -- one row per site, index ``site_id``, covariates (:data:`~binn_lite.data.schema.COVARIATES`);
* ``observations.csv`` -- long table ``site_id, depth_m, top_m, bottom_m, soc_gC_m3``;
* ``forcing.npz`` -- one array per CLM5 forcing field plus ``site_id`` (uncompressed NumPy zip);
* ``truth_params.csv``, ``truth.json`` -- synthetic data only: the true parameters and relationships.

Writing is deterministic (fixed decimals per column, fixed zip timestamps): the same dataset always
gives the same bytes. Reading refuses, naming the file, what is not a comma-separated UTF-8 CSV
(empty, header only, binary or a spreadsheet, another encoding, semicolons or tabs, decimal commas)
or not an NPZ of arrays; the content then goes through the checks of :mod:`binn_lite.data.validation`.
Horizon bounds are stored to the centimetre, so horizons thinner than 1 cm do not survive a save.
"""
from __future__ import annotations

import csv
import io
import json
import re
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..dataset import SiteDataset
from ..errors import BinnInputError, MissingFileError
from ..forcing import Forcing
from .schema import COVARIATES, OBSERVATION_COLUMNS, SCIREN_COVARIATES, TRUTH_DIGITS
from .truth import Truth
from .validation import (build_forcing, check_forcing_fields, check_observations, check_sites, name_list,
                         near_matches, numeric_column, require_columns)

__all__ = ["DATASET_FILES", "save_dataset", "read_dataset", "read_truth", "read_table"]

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
# Reading files: every way a file can be unreadable is named, with the fix
# ---------------------------------------------------------------------------------------------
#: how a file starts -> what it is, for files that are not CSV text
_NOT_TEXT = {b"PK\x03\x04": "a zip archive (an Excel .xlsx workbook or an .npz?)",
             b"\xd0\xcf\x11\xe0": "an old Excel .xls workbook",
             b"\xff\xfe": "UTF-16 text (Excel's 'Unicode text')", b"\xfe\xff": "UTF-16 text",
             b"\x93NUMPY": "a NumPy .npy array", b"%PDF": "a PDF document"}
_SAVE_AS_CSV = "save it as 'CSV UTF-8 (comma delimited)'"
#: delimiters of spreadsheet exports that are not commas
_OTHER_DELIMITERS = {";": ("semicolons", " (a European spreadsheet export?)"), "\t": ("tabs", ""),
                     "|": ("vertical bars", "")}


def source_label(obj: Any, what: str) -> str:
    """How errors name a table: the file name, or ``"<what> (DataFrame)"``."""
    return Path(obj).name if isinstance(obj, (str, os.PathLike)) else f"{what} (DataFrame)"


def _file_bytes(path: Path, what: str) -> bytes:
    """The bytes of an input file; raise naming it if it is missing, a folder or unreadable."""
    if not path.exists():
        raise MissingFileError(f"{what}: no such file {str(path)!r}")
    if path.is_dir():
        raise BinnInputError(f"{what}: {str(path)!r} is a folder, not a file")
    try:
        return path.read_bytes()
    except OSError as error:
        raise BinnInputError(f"{what}: cannot read {str(path)!r}: {error.strerror or error}") from None


def _decode(data: bytes, label: str) -> str:
    """CSV bytes as text: UTF-8 (with or without a byte-order mark); anything else is refused."""
    if not data.strip():
        raise BinnInputError(f"{label}: the file is empty" + (" (0 bytes)" if not data else " (only blank lines)"))
    for magic, kind in _NOT_TEXT.items():
        if data.startswith(magic):
            raise BinnInputError(f"{label}: this is {kind}, not a CSV text file; {_SAVE_AS_CSV}")
    if b"\x00" in data[:4096]:
        raise BinnInputError(f"{label}: binary data (NUL bytes), not a CSV text file; {_SAVE_AS_CSV}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise BinnInputError(f"{label}: not UTF-8 text: byte 0x{data[error.start]:02x} on line {line} (a Latin-1 or "
                             f"Windows-1252 export?); {_SAVE_AS_CSV}") from None
    if not text.strip():  # Unicode white space only (e.g. U+0085), which bytes.strip() keeps
        raise BinnInputError(f"{label}: the file is empty (only white space)")
    return text


def _check_delimiter(text: str, label: str) -> None:
    """Raise if the header is separated by semicolons, tabs or bars instead of commas."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0]
    if len(next(csv.reader([header]))) > 1:
        return
    for delimiter, (name, origin) in _OTHER_DELIMITERS.items():
        if len(next(csv.reader([header], delimiter=delimiter))) > 1:
            decimal = any(re.search(r"\d,\d", line) for line in lines[1:6])
            raise BinnInputError(
                f"{label}: wrong delimiter: the columns are separated by {name} ({delimiter!r}), not commas"
                + (", and the numbers have decimal commas" if decimal else "") + f"{origin}; save it as comma-separated "
                f"CSV with '.' as decimal point, or read it yourself with "
                f"pandas.read_csv(path, sep={delimiter!r}" + (", decimal=','" if decimal else "")
                + ") and pass the DataFrame")


def _parse_csv(text: str, label: str) -> pd.DataFrame:
    """All cells as text (nothing turned into NaN yet); the header stripped and checked."""
    try:
        rows = pd.read_csv(io.StringIO(text), dtype=str, header=None, na_filter=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as error:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if found:
            expected, line, saw = found.groups()
            raise BinnInputError(
                f"{label}: line {line} has {saw} fields but the header has {expected}: a comma inside a value? "
                f"Write decimals with a point (1.5, not 1,5) and put quotes around text that has commas") from None
        quote = " (an unmatched double quote in a cell?)" if "EOF inside string" in str(error) else ""
        raise BinnInputError(f"{label}: cannot be read as CSV{quote}: {str(error).strip()}") from None
    frame = rows.iloc[1:].reset_index(drop=True)
    frame.columns = list(rows.iloc[0])
    return frame


def _clean_header(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Column names as stripped text (a byte-order mark removed); raise for duplicated names."""
    if isinstance(frame.columns, pd.MultiIndex):
        raise BinnInputError(f"{label}: has {frame.columns.nlevels} header rows (MultiIndex columns); use one")
    names = [str(c).replace("\ufeff", "").strip() if not pd.isna(c) else "" for c in frame.columns]
    names = [name or f"Unnamed: {i}" for i, name in enumerate(names)]
    seen = pd.Series(names).value_counts()
    twice = seen[seen > 1]
    if len(twice):
        raise BinnInputError(f"{label}: column(s) {name_list(list(twice.index))} appear more than once in the "
                             f"header; give every column a unique name")
    frame = frame.copy()
    frame.columns = names
    return frame


def read_table(obj: Any, what: str) -> pd.DataFrame:
    """A CSV path or a DataFrame as a DataFrame with clean column names and at least one row.

    A CSV is read as UTF-8 (a byte-order mark is fine), all cells kept as text for the checks of
    :mod:`~binn_lite.data.validation`; spaces around names and cells are ignored. A DataFrame's
    named index becomes a column.
    """
    label = source_label(obj, what)
    if isinstance(obj, (str, os.PathLike)):
        text = _decode(_file_bytes(Path(obj), what), label)
        _check_delimiter(text, label)
        frame = _parse_csv(text, label)
        if len(frame) == 0:
            raise BinnInputError(f"{label}: has a header but no data rows")
    elif isinstance(obj, pd.DataFrame):
        frame = obj.copy()
        if len(frame) == 0:
            raise BinnInputError(f"{label}: has no rows")
        named = [n for n in frame.index.names if n is not None]
        if named:
            clash = [n for n in named if n in frame.columns]
            if clash:
                raise BinnInputError(f"{label}: {clash[0]!r} is both the index and a column; drop one "
                                     f"(df.reset_index(drop=True) or df.drop(columns={clash[0]!r}))")
            frame = frame.reset_index()
    else:
        raise BinnInputError(f"{what} must be a CSV path or a pandas DataFrame; got {type(obj).__name__}")
    return _clean_header(frame, label)


def _load_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    """The arrays of an NPZ file; raise naming the file if it is not one."""
    label = path.name
    data = _file_bytes(path, what)
    if not data:
        raise BinnInputError(f"{label}: the file is empty (0 bytes)")
    if not data.startswith(b"PK\x03\x04"):
        kind = next((k for magic, k in _NOT_TEXT.items() if data.startswith(magic)), "text or another format")
        raise BinnInputError(f"{label}: not an .npz archive (this is {kind}); save the forcing with "
                             f"numpy.savez(path, site_id=ids, **fields)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise BinnInputError(f"{label}: not a readable .npz archive of forcing arrays ({error}); save with "
                             f"numpy.savez(path, site_id=ids, **fields)") from None


def forcing_arrays(forcing: Any) -> tuple[dict[str, np.ndarray], np.ndarray | None, str]:
    """(field arrays, site ids or None, label) from an NPZ path, a Forcing or a dict of arrays."""
    if isinstance(forcing, (str, os.PathLike)):
        arrays, label = _load_npz(Path(forcing), "forcing"), Path(forcing).name
    elif isinstance(forcing, Forcing):
        arrays, label = forcing.to_numpy(), "forcing (Forcing)"
    elif isinstance(forcing, Mapping):
        label = "forcing (dict)"
        arrays = {}
        for key, value in forcing.items():
            try:
                arrays[str(key)] = (value.detach().cpu().numpy() if isinstance(value, torch.Tensor)
                                    else np.asarray(value))
            except (ValueError, TypeError) as error:
                raise BinnInputError(f"{label}: field {key!r} is not an array: {error}") from None
    else:
        raise BinnInputError(f"forcing must be an NPZ path, a Forcing or a dict of arrays; got {type(forcing).__name__}")
    ids = arrays.pop("site_id", None)
    check_forcing_fields(arrays, label)
    return arrays, ids, label


def read_truth(params_path: str | os.PathLike, json_path: str | os.PathLike) -> Truth:
    """The :class:`~binn_lite.data.truth.Truth` that :func:`save_dataset` wrote to these two files."""
    json_path = Path(json_path)
    try:
        record = json.loads(_decode(_file_bytes(json_path, "truth"), json_path.name))
    except json.JSONDecodeError as error:
        raise BinnInputError(f"{json_path.name}: not valid JSON ({error})") from None
    params = read_table(params_path, "truth parameters")
    label = source_label(params_path, "truth parameters")
    require_columns(params, ["site_id"], label)
    params = params.set_index("site_id")
    for column in params.columns:
        params[column] = numeric_column(params, column, label, True, "site_id", what="parameter")
    try:
        return Truth.from_dict(record, params.astype(np.float64))
    except (KeyError, TypeError, ValueError) as error:
        raise BinnInputError(f"{json_path.name}: not a truth record written by save_dataset ({error!r})") from None


# ---------------------------------------------------------------------------------------------
# read_dataset: the files, checked
# ---------------------------------------------------------------------------------------------
def _check_arguments(feature_names: Any, names: Mapping[str, Any], truth: Any) -> list[str]:
    """The feature names as a list; raise for arguments of the wrong kind."""
    if isinstance(feature_names, str) or not isinstance(feature_names, Sequence):
        raise BinnInputError(f"feature_names must be a list of column names; got {feature_names!r}"
                             + (f" (write [{feature_names!r}])" if isinstance(feature_names, str) else ""))
    features = list(feature_names)
    if not features or not all(isinstance(f, str) for f in features):
        raise BinnInputError(f"feature_names must be a non-empty list of column names (text); got {features!r}")
    twice = sorted({f for f in features if features.count(f) > 1})
    if twice:
        raise BinnInputError(f"feature_names lists {name_list(twice)} more than once")
    for argument, value in names.items():
        if not isinstance(value, str) or not value:
            raise BinnInputError(f"{argument} must be a column name (text); got {value!r}")
    if truth is not None and not isinstance(truth, Truth):
        raise BinnInputError(f"truth must be a binn_lite.data.Truth or None; got {type(truth).__name__}")
    return features


def read_dataset(sites: str | os.PathLike | pd.DataFrame, observations: str | os.PathLike | pd.DataFrame,
                 forcing: str | os.PathLike | Forcing | Mapping[str, Any], *,
                 feature_names: Sequence[str] = SCIREN_COVARIATES, truth: Truth | None = None,
                 drop_sites_without_observations: bool = False, check_units: bool = True,
                 forcing_in_site_order: bool = False,
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
        arrays with the :data:`~binn_lite.forcing.FORCING_FIELDS`, plus a ``site_id`` array (in an
        NPZ or dict): the forcing is matched to the sites by id, in any order; forcing of sites not
        in the table is ignored with a warning.
    feature_names : covariates used as network inputs (must be numeric, no missing values).
    truth : optional :class:`Truth` (synthetic data), with parameters for every site.
    drop_sites_without_observations : sites without any observation are an error (they are listed);
        with ``True`` they are dropped with a warning that names them.
    check_units : reject SOC whose median is below 200 g C m-3 (percent or kg C m-3 by mistake) and
        depths that look like centimetres (:func:`~binn_lite.data.validation.check_depth_units`).
    forcing_in_site_order : a forcing without ``site_id`` (a :class:`Forcing` never has ids) is
        refused, because matching by position silently mixes up sites when either table was sorted;
        ``True`` says its entries follow the rows of ``sites``. A single site needs no ids.
    site_id, depth, soc : column names, if yours differ.

    CSV files must be UTF-8 text (a byte-order mark is fine) separated by commas, with ``.`` as
    the decimal point; spaces around column names and values are ignored.

    Raises
    ------
    BinnInputError (a ``ValueError``) naming the file (or DataFrame), column, site and value, for:
    unreadable files (missing, empty, header only, binary or spreadsheet, not UTF-8, semicolon or
    tab delimited, decimal commas), missing or misspelt or duplicated columns (with the closest
    match), text, missing or infinite numbers, missing or duplicate site ids, negative /
    zero-thickness / too deep depths, depths in centimetres, SOC in the wrong unit, observations of
    unknown sites, sites without observations, forcing without ids or with missing, duplicated or
    bad entries. A missing file raises :class:`MissingFileError`, also a ``FileNotFoundError``.
    """
    features = _check_arguments(feature_names, {"site_id": site_id, "depth": depth, "soc": soc}, truth)
    sites_label, obs_label = source_label(sites, "sites"), source_label(observations, "observations")
    site_table = check_sites(read_table(sites, "sites"), features, sites_label,
                             isinstance(sites, (str, os.PathLike)), site_id)
    obs = check_observations(read_table(observations, "observations"), obs_label,
                             isinstance(observations, (str, os.PathLike)), site_id, depth, soc, check_units)
    unknown = pd.Index(obs[site_id].unique()).difference(site_table.index)
    if len(unknown):
        raise BinnInputError(f"{obs_label}: observations for {len(unknown)} site(s) not in {sites_label}: "
                             f"{name_list(list(unknown))}" + near_matches(list(unknown), list(site_table.index)))
    arrays, ids, forcing_label = forcing_arrays(forcing)
    forcing_obj = build_forcing(arrays, ids, forcing_label, site_table.index, sites_label, forcing_in_site_order)

    without = site_table.index.difference(pd.Index(obs[site_id].unique()), sort=False)
    if len(without):
        if not drop_sites_without_observations:
            raise BinnInputError(
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
            raise BinnInputError(f"truth: no parameters for site(s) {name_list(list(absent))}")
    obs = obs.rename(columns={site_id: "site_id"})
    site_table.index.name = "site_id"
    return SiteDataset(site_table, obs, forcing_obj, features, truth, coord_name=depth, value_name=soc)
