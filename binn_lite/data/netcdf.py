"""NetCDF in and out: CLM5 history files as forcing, predictions as CF-annotated files.

Reading (:class:`CLM5History`)
------------------------------
A CLM5 history file (or any NetCDF laid out like one) holds the monthly forcing of the soil-carbon
model (:mod:`binn_lite.forcing`) as variables of ``time``, a soil-level dimension and space:

==================  ===========================  ============================  ========================
forcing field       CLM5 variable (default)      dimensions                    units accepted
==================  ===========================  ============================  ========================
soil_temperature    ``TSOI``                     time, levgrnd, space          K (degC converted)
water_scalar        ``W_SCALAR``                 time, levdcmp/levsoi, space   1 (unitless)
oxygen_scalar       ``O_SCALAR``                 time, levdcmp/levsoi, space   1
nitrogen_scalar     ``FPI_vr``                   time, levdcmp/levsoi, space   1
altmax              ``ALTMAX``                   time, space                   m (cm converted)
altmax_lastyear     ``ALTMAX_LASTYEAR``          time, space                   m (cm converted)
litter_input        ``CWDC_INPUT``,              time, space (one variable     gC m-2 s-1 (CLM's flux
                    ``LITR1C_INPUT``,            per pool: CWD, litter 1-3)    unit), gC m-2 d-1 or
                    ``LITR2C_INPUT``,                                          gC m-2 month-1
                    ``LITR3C_INPUT``
bedrock             ``NBEDROCK`` (layers) or     space (a time dimension is    layers, or m
                    ``ZBEDROCK`` (m)             read at its first step)
==================  ===========================  ============================  ========================

*Space* is either a latitude/longitude grid (dimensions ``lat``, ``lon``: a map) or one dimension
of points (``lndgrid``, ``column``, ``site``, ...: the file's own cells). Cells are numbered in
row-major order (``lat`` first); a cell whose values are missing (``_FillValue``, e.g. the ocean)
is not land and is skipped. The ``time`` dimension holds 12 months starting in January, or
whole years of them (averaged month by month into a climatology). A soil-level dimension with
more than 20 levels (``levgrnd`` has 25: 20 soil + 5 bedrock) is cut to the 20 soil layers.
Flux units are converted to gC m-2 per month with CLM's no-leap calendar. A missing variable,
a wrong dimension, an unknown unit or too few levels raises a
:class:`~binn_lite.errors.BinnInputError` that names the file, the variable and what it found;
out-of-range values are caught by :class:`~binn_lite.forcing.Forcing` and named by cell.

The engine is **h5netcdf** (pure Python over h5py): no C netCDF library to install, and both are
on Colab next to xarray. It reads NetCDF-4 (HDF5) files, which is what CLM5 writes by default;
a classic NetCDF-3 file needs the netCDF4 or scipy engine (``CLM5History(xarray.open_dataset(...))``
accepts any open dataset).

Writing (:class:`PredictionWriter`)
-----------------------------------
Predictions go to a NetCDF-4 file written piece by piece: parameters (one variable each, in the
units of the process model's :class:`~binn_lite.parameters.ParameterTable`), SOC at the 20 CLM5
nodes (``soc``, g m-3 of carbon), the SOC stock of the whole column (``soc_stock``, g m-2) and,
for an ensemble, their standard deviations (``<name>_sd``). Attributes follow the CF conventions
(1.8): ``units``, ``long_name``, ``standard_name`` where one exists, ``latitude``/``longitude``
coordinates, a ``depth`` axis with bounds, ``_FillValue`` NaN where nothing was predicted.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import BinnInputError, MissingFileError
from ..forcing import FORCING_FIELDS, LITTER_INPUT_POOLS, N_LAYERS, N_MONTHS, Forcing

__all__ = ["CLM5_VARIABLES", "CLM5History", "write_clm5_forcing", "PredictionWriter", "ENGINE"]

#: the xarray / file engine used for reading and writing
ENGINE = "h5netcdf"

#: forcing field -> CLM5 variable name(s); pass ``variables={...}`` to read other names
CLM5_VARIABLES: dict[str, str | tuple[str, ...]] = {
    "soil_temperature": "TSOI",
    "water_scalar": "W_SCALAR",
    "oxygen_scalar": "O_SCALAR",
    "nitrogen_scalar": "FPI_vr",
    "altmax": "ALTMAX",
    "altmax_lastyear": "ALTMAX_LASTYEAR",
    "litter_input": ("CWDC_INPUT", "LITR1C_INPUT", "LITR2C_INPUT", "LITR3C_INPUT"),
    "bedrock": ("NBEDROCK", "ZBEDROCK"),  # the first one the file has
}

LEVEL_DIMS = ("levgrnd", "levsoi", "levdcmp", "levdcmp_full", "depth", "level")
GRID_DIMS = (("lat", "lon"), ("latitude", "longitude"), ("y", "x"))
DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.float64)  # no-leap
SECONDS_PER_DAY = 86400.0

#: recognised unit spellings (lower case, no spaces, '^' and '**' removed) -> (unit, factor per month)
_UNITLESS = {"", "1", "-", "unitless", "none", "proportion", "fraction", "dimensionless"}
_UNITS: dict[str, dict[str, Any]] = {
    "K": {"k": 1.0, "kelvin": 1.0, "degc": "degC", "c": "degC", "°c": "degC", "celsius": "degC",
          "degree_celsius": "degC", "degrees_celsius": "degC"},
    "1": {u: 1.0 for u in _UNITLESS},
    "m": {"m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0, "cm": 0.01},
    "layers": {**{u: 1.0 for u in _UNITLESS}, "layers": 1.0, "count": 1.0, "index": 1.0},
    "gC m-2 month-1": {"gc/m2/s": "per_second", "gcm-2s-1": "per_second", "g/m2/s": "per_second",
                       "gc/m2/d": "per_day", "gc/m2/day": "per_day", "gcm-2d-1": "per_day",
                       "gcm-2day-1": "per_day", "gc/m2/month": 1.0, "gc/m2/mon": 1.0, "gcm-2month-1": 1.0,
                       "gcm-2mon-1": 1.0},
}
#: forcing field -> the unit it is stored in
_FIELD_UNITS = {"soil_temperature": "K", "water_scalar": "1", "oxygen_scalar": "1", "nitrogen_scalar": "1",
                "altmax": "m", "altmax_lastyear": "m", "litter_input": "gC m-2 month-1"}


def _spelling(unit: Any) -> str:
    return re.sub(r"\s+|\^|\*\*", "", str(unit if unit is not None else "")).lower()


# -------------------------------------------------------------------------------------------------
# Reading CLM5 history files
# -------------------------------------------------------------------------------------------------
class CLM5History:
    """A CLM5 history file opened lazily: forcing read a block of cells at a time.

    Parameters
    ----------
    source : path of a NetCDF-4 file, or an open ``xarray.Dataset``.
    variables : forcing field -> variable name(s), overriding :data:`CLM5_VARIABLES`.

    Attributes
    ----------
    layout : ``"grid"`` (lat x lon) or ``"points"``.
    lat, lon : degrees north / east, 1-D (of the grid axes, or per point).
    n_cells : number of cells (``len(lat) * len(lon)`` for a grid).
    """

    def __init__(self, source: str | os.PathLike | Any, variables: Mapping[str, Any] | None = None) -> None:
        import xarray

        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.is_file():
                raise MissingFileError(f"CLM5 forcing: no such file {str(path)!r}")
            try:
                self.dataset = xarray.open_dataset(path, engine=ENGINE, decode_times=False, mask_and_scale=True)
            except Exception as error:
                raise BinnInputError(f"{path.name}: not a readable NetCDF-4 file ({type(error).__name__}: {error}); "
                                     "a NetCDF-3 file needs another engine: pass xarray.open_dataset(path)") from None
            self.label = path.name
        else:
            self.dataset, self.label = source, "forcing (Dataset)"
        unknown = sorted(set(variables or {}) - set(FORCING_FIELDS))
        if unknown:
            raise BinnInputError(f"variables: unknown forcing field(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(FORCING_FIELDS)}")
        self.variables = {**CLM5_VARIABLES, **dict(variables or {})}
        self.space = self._space_dims()
        self.layout = "grid" if len(self.space) == 2 else "points"
        if self.layout == "grid":
            self.lat = self._coordinate(self.space[0])
            self.lon = self._coordinate(self.space[1])
            self.n_cells = len(self.lat) * len(self.lon)
        else:
            self.lat, self.lon = self._point_coordinate("lat"), self._point_coordinate("lon")
            self.n_cells = int(self.dataset.sizes[self.space[0]])

    # -- what the file holds ----------------------------------------------------------------------
    def _variable(self, name: str):
        if name not in self.dataset.variables:
            have = ", ".join(sorted(map(str, self.dataset.data_vars))[:20])
            raise BinnInputError(f"{self.label}: no variable {name!r} (have {have}); name yours with "
                                 f"CLM5History(path, variables={{...}})")
        return self.dataset[name]

    def _space_dims(self) -> tuple[str, ...]:
        temperature = self._variable(str(self.variables["soil_temperature"]))
        dims = tuple(d for d in temperature.dims if d != "time" and d not in LEVEL_DIMS)
        if len(dims) == 2 and dims not in GRID_DIMS:
            raise BinnInputError(f"{self.label}: {temperature.name} has spatial dimensions {dims}; a grid needs "
                                 f"one of {', '.join(map(str, GRID_DIMS))}")
        if len(dims) not in (1, 2):
            raise BinnInputError(f"{self.label}: {temperature.name} has dimensions {temperature.dims}; expected "
                                 "(time, levgrnd, lat, lon) or (time, levgrnd, <points>)")
        return dims

    def _coordinate(self, dim: str) -> np.ndarray:
        if dim not in self.dataset.variables:
            raise BinnInputError(f"{self.label}: the grid dimension {dim!r} has no coordinate variable")
        return np.asarray(self.dataset[dim].values, dtype=np.float64)

    def _point_coordinate(self, which: str) -> np.ndarray:
        for name in (which, {"lat": "latitude", "lon": "longitude"}[which], {"lat": "grid1d_lat",
                                                                              "lon": "grid1d_lon"}[which]):
            if name in self.dataset.variables and self.dataset[name].dims == self.space:
                return np.asarray(self.dataset[name].values, dtype=np.float64)
        return np.full(int(self.dataset.sizes[self.space[0]]), np.nan)

    def cell_lonlat(self, cells: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(lon, lat) in degrees of the cells in ``cells`` (row-major cell numbers)."""
        start, stop, _ = (cells or slice(None)).indices(self.n_cells)
        flat = np.arange(start, stop)
        if self.layout == "points":
            return self.lon[flat], self.lat[flat]
        return self.lon[flat % len(self.lon)], self.lat[flat // len(self.lon)]

    # -- one block of cells -----------------------------------------------------------------------
    def _block(self, name: str, cells: slice, dims: tuple[str, ...], unit: str) -> np.ndarray:
        """Variable ``name`` for ``cells`` as [cells, *dims] in ``unit`` (float64); ``"level"`` in
        ``dims`` stands for the variable's soil-level dimension, cut to the 20 soil layers."""
        variable = self._variable(name)
        if "level" in dims:
            variable, level = self._soil_levels(variable)
            dims = tuple(level if d == "level" else d for d in dims)
        if sorted(variable.dims) != sorted((*dims, *self.space)):
            raise BinnInputError(f"{self.label}: {name} has dimensions {variable.dims}; expected "
                                 f"({', '.join((*dims, *self.space))})")
        start, stop, _ = cells.indices(self.n_cells)
        if self.layout == "grid":  # read the rows that hold the cells, then cut them out
            n_lon = len(self.lon)
            rows = slice(start // n_lon, (stop - 1) // n_lon + 1 if stop > start else start // n_lon)
            block = variable.isel({self.space[0]: rows}).transpose(*self.space, *dims).values
            block = block.reshape(-1, *block.shape[2:])[start - rows.start * n_lon:stop - rows.start * n_lon]
        else:
            block = variable.isel({self.space[0]: slice(start, stop)}).transpose(*self.space, *dims).values
        return self._convert(np.asarray(block, dtype=np.float64), name, variable.attrs.get("units"), unit)

    def _soil_levels(self, variable: Any) -> tuple[Any, str]:
        """``variable`` cut to the 20 soil layers, and the name of its level dimension."""
        levels = [d for d in variable.dims if d in LEVEL_DIMS]
        if len(levels) != 1:
            raise BinnInputError(f"{self.label}: {variable.name} has dimensions {variable.dims}; expected one "
                                 f"soil-level dimension ({', '.join(LEVEL_DIMS)})")
        n = int(variable.sizes[levels[0]])
        if n < N_LAYERS:
            raise BinnInputError(f"{self.label}: {variable.name} has {n} levels along {levels[0]!r}; the model "
                                 f"needs the {N_LAYERS} soil layers")
        return variable.isel({levels[0]: slice(0, N_LAYERS)}), levels[0]

    def _convert(self, values: np.ndarray, name: str, units: Any, unit: str) -> np.ndarray:
        factor = _UNITS[unit].get(_spelling(units))
        if factor is None:
            raise BinnInputError(f"{self.label}: {name} has units {units!r}; expected {unit} (recognised: "
                                 f"{', '.join(sorted(k for k in _UNITS[unit] if k))})")
        if factor == "degC":
            return values + 273.15
        if factor in ("per_second", "per_day"):  # time is the second axis: [cells, months, ...]
            days = DAYS_IN_MONTH * (SECONDS_PER_DAY if factor == "per_second" else 1.0)
            months = values.shape[1]
            return values * np.tile(days, months // N_MONTHS).reshape(1, months, *([1] * (values.ndim - 2)))
        return values * factor

    def _climatology(self, values: np.ndarray, name: str) -> np.ndarray:
        """[cells, months, ...] -> [cells, 12, ...]: whole years averaged month by month."""
        months = values.shape[1]
        if months == 0 or months % N_MONTHS:
            raise BinnInputError(f"{self.label}: {name} has {months} time steps; expected 12 months starting "
                                 "in January, or whole years of them")
        return values.reshape(values.shape[0], months // N_MONTHS, N_MONTHS, *values.shape[2:]).mean(axis=1)

    def read(self, cells: slice | None = None) -> dict[str, np.ndarray]:
        """The forcing arrays of ``cells`` (row-major numbers; default: all), NaN where the file has none."""
        cells = cells or slice(None)
        arrays = {}
        for field in ("soil_temperature", "water_scalar", "oxygen_scalar", "nitrogen_scalar"):
            name = str(self.variables[field])
            arrays[field] = self._climatology(self._block(name, cells, ("time", "level"), _FIELD_UNITS[field]), name)
        for field in ("altmax", "altmax_lastyear"):
            name = str(self.variables[field])
            arrays[field] = self._climatology(self._block(name, cells, ("time",), "m"), name)
        names = self.variables["litter_input"]
        if isinstance(names, str) or len(names) != len(LITTER_INPUT_POOLS):
            raise BinnInputError(f"variables['litter_input'] must name {len(LITTER_INPUT_POOLS)} variables "
                                 f"({', '.join(LITTER_INPUT_POOLS)}); got {names!r}")
        arrays["litter_input"] = np.stack(
            [self._climatology(self._block(n, cells, ("time",), "gC m-2 month-1"), n) for n in names], axis=-1)
        arrays["bedrock"] = self._bedrock(cells)
        return arrays

    def _bedrock(self, cells: slice) -> np.ndarray:
        """Number of soil layers above bedrock per cell (from layers, or from a depth in m)."""
        from ..clm5 import ZISOI

        names = self.variables["bedrock"]
        names = (names,) if isinstance(names, str) else tuple(names)
        name = next((n for n in names if n in self.dataset.variables), None)
        if name is None:
            raise BinnInputError(f"{self.label}: no bedrock variable (looked for {', '.join(names)}): give the "
                                 "number of soil layers above bedrock (layers) or the bedrock depth (m)")
        variable = self.dataset[name]
        dims = ("time",) if "time" in variable.dims else ()
        units = variable.attrs.get("units")
        is_depth = _spelling(units) in _UNITS["m"] and _spelling(units) not in _UNITLESS
        block = self._block(name, cells, dims, "m" if is_depth else "layers")
        block = block[:, 0] if dims else block
        if is_depth:  # CLM5 (initVerticalMod): nbedrock = j where zisoi(j-1) < zbedrock <= zisoi(j)
            layers = np.searchsorted(ZISOI.numpy(), block, side="left") + 1
            return np.where(np.isfinite(block), layers, np.nan).clip(1, N_LAYERS)
        return block

    def forcing(self, cells: slice | None = None) -> tuple[Forcing, np.ndarray]:
        """(Forcing of the land cells among ``cells``, boolean land mask over ``cells``).

        A value out of range raises a BinnInputError naming the cell by number, latitude and longitude.
        """
        arrays = self.read(cells)
        land = np.ones(len(arrays["bedrock"]), dtype=bool)
        for values in arrays.values():
            land &= np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        start = (cells or slice(None)).indices(self.n_cells)[0]
        try:
            forcing = Forcing.from_numpy(**{k: v[land] for k, v in arrays.items()})
        except BinnInputError as error:
            lon, lat = self.cell_lonlat(cells)
            numbers = np.flatnonzero(land)

            def cell(match: re.Match) -> str:
                k = numbers[int(match.group(1))]
                return f"cell {start + k} (lat {lat[k]:.4g}, lon {lon[k]:.4g})"

            message = re.sub(r"site (\d+)", cell, str(error))
            raise BinnInputError(f"{self.label}: {message}") from None
        return forcing, land

    def at(self, lon: Sequence[float], lat: Sequence[float]) -> Forcing:
        """Forcing at points (degrees): the nearest cell of the grid, or of the points, to each."""
        lon, lat = np.atleast_1d(np.asarray(lon, dtype=np.float64)), np.atleast_1d(np.asarray(lat, dtype=np.float64))
        if self.layout == "grid":
            rows = np.abs(self.lat[None, :] - lat[:, None]).argmin(axis=1)
            cols = np.abs(((self.lon[None, :] - lon[:, None]) + 180.0) % 360.0 - 180.0).argmin(axis=1)
            nearest = rows * len(self.lon) + cols
        else:
            if not np.isfinite(self.lat).all():
                raise BinnInputError(f"{self.label}: the points have no lat/lon variables to match locations to")
            nearest = np.array([int(np.argmin((self.lat - y) ** 2 + (self.lon - x) ** 2)) for x, y in zip(lon, lat)])
        parts = []
        for i, k in enumerate(nearest):
            forcing, land = self.forcing(slice(int(k), int(k) + 1))
            if not land[0]:
                raise BinnInputError(f"{self.label}: point {i} (lat {lat[i]:.4g}, lon {lon[i]:.4g}): its nearest "
                                     f"cell {k} has no forcing (missing values: not land?)")
            parts.append(forcing)
        return Forcing.concat(parts)

    def close(self) -> None:
        self.dataset.close()

    def __enter__(self) -> "CLM5History":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        shape = f"{len(self.lat)} x {len(self.lon)} grid" if self.layout == "grid" else f"{self.n_cells} points"
        return f"CLM5History({self.label}: {shape})"


def write_clm5_forcing(path: str | os.PathLike, forcing: Forcing, lat: Sequence[float], lon: Sequence[float], *,
                       land: np.ndarray | None = None, points: bool = False, overwrite: bool = False) -> Path:
    """Write ``forcing`` as a CLM5-style history file that :class:`CLM5History` reads back.

    A map: ``lat``, ``lon`` are the grid axes and the forcing holds every cell in row-major order,
    or only the cells where ``land`` [n_lat, n_lon] is true (the others are missing values).
    Points (``points=True``): ``lat``, ``lon`` give each site's location (dimension ``lndgrid``).
    Variables as in :data:`CLM5_VARIABLES` (inputs in gC m-2 month-1, bedrock as ``NBEDROCK``).
    """
    import xarray

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    arrays = forcing.to_numpy()
    if points:
        space, shape, cells = ("lndgrid",), (len(lat),), np.arange(len(lat))
    else:
        space, shape = ("lat", "lon"), (len(lat), len(lon))
        land = np.ones(shape, dtype=bool) if land is None else np.asarray(land, dtype=bool)
        cells = np.flatnonzero(land.reshape(-1))
    if len(cells) != len(forcing):
        raise BinnInputError(f"the forcing has {len(forcing)} sites but the {'points' if points else 'land cells'} "
                             f"number {len(cells)}")

    def spread(values: np.ndarray, dims: tuple[str, ...]) -> tuple[tuple[str, ...], np.ndarray]:
        full = np.full((int(np.prod(shape)), *values.shape[1:]), np.nan, dtype=np.float32)
        full[cells] = values
        full = full.reshape(*shape, *values.shape[1:])
        return (*dims, *space), np.moveaxis(full, range(len(shape)), range(len(dims), full.ndim))

    variables = {}
    for field, unit, dims in (("soil_temperature", "K", ("time", "levgrnd")), ("water_scalar", "1", ("time", "levdcmp")),
                              ("oxygen_scalar", "1", ("time", "levdcmp")), ("nitrogen_scalar", "1", ("time", "levdcmp")),
                              ("altmax", "m", ("time",)), ("altmax_lastyear", "m", ("time",))):
        variables[CLM5_VARIABLES[field]] = (*spread(arrays[field], dims), {"units": unit})
    for k, name in enumerate(CLM5_VARIABLES["litter_input"]):
        variables[name] = (*spread(arrays["litter_input"][..., k], ("time",)), {"units": "gC/m^2/month"})
    variables["NBEDROCK"] = (*spread(arrays["bedrock"].astype(np.float64), ()), {"units": "layers"})
    coords = ({"lat": ("lndgrid", lat), "lon": ("lndgrid", lon)} if points else {"lat": ("lat", lat), "lon": ("lon", lon)})
    data = xarray.Dataset({name: (dims, values, attrs) for name, (dims, values, attrs) in variables.items()},
                          coords={**coords, "time": ("time", np.cumsum(DAYS_IN_MONTH) - DAYS_IN_MONTH / 2,
                                                     {"units": "days since 2001-01-01", "calendar": "standard",
                                                      "long_name": "middle of the month"})})
    path.parent.mkdir(parents=True, exist_ok=True)
    data.to_netcdf(path, engine=ENGINE)
    return path


# -------------------------------------------------------------------------------------------------
# Writing predictions
# -------------------------------------------------------------------------------------------------
class PredictionWriter:
    """A prediction file written block by block (see the module docstring).

    Parameters
    ----------
    path : the NetCDF-4 file to create (an existing one is replaced only with ``overwrite=True``).
    table : the process model's :class:`~binn_lite.parameters.ParameterTable` (names, units).
    lat, lon : for a map, the grid axes (degrees north / east); with ``site_ids`` the coordinates
        of each site instead (a ``site`` dimension).
    site_ids : one id per site for a file of points; None for a map.
    depth, depth_bounds : node depths (m) [n_nodes] and layer bounds [n_nodes, 2] of the prediction
        (CLM5's 20 nodes); None writes no SOC profile or stock.
    uncertainty : add ``<name>_sd`` variables (standard deviations over an ensemble).
    attrs : extra global attributes (e.g. ``{"source": "run.yaml"}``).

    ``write(cells, params=..., soc=..., ...)`` fills the cells ``cells`` (a slice of row-major cell
    numbers for a map, of sites for points); :meth:`close` finishes the file.
    """

    def __init__(self, path: str | os.PathLike, table: Any, lat: Sequence[float], lon: Sequence[float], *,
                 site_ids: Sequence[Any] | None = None, depth: Any = None, depth_bounds: Any = None,
                 uncertainty: bool = False, overwrite: bool = False, attrs: Mapping[str, Any] | None = None) -> None:
        import h5netcdf

        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists; pass overwrite=True to replace it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.table, self.uncertainty = table, bool(uncertainty)
        lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        self.points = site_ids is not None
        self.space = ("site",) if self.points else ("lat", "lon")
        self.shape = (len(lat),) if self.points else (len(lat), len(lon))
        self.file = h5netcdf.File(self.path, "w")
        f = self.file
        f.attrs.update({"Conventions": "CF-1.8", "title": "BINN predictions of CLM5 soil-carbon parameters and SOC",
                        "source": "binn_lite", "history": f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} "
                                                          "written by binn_lite", **dict(attrs or {})})
        if self.points:
            f.dimensions["site"] = len(lat)
            import h5py

            ids = f.create_variable("site_id", ("site",), dtype=h5py.string_dtype())
            ids[:] = np.array([str(s) for s in site_ids], dtype=object)
            ids.attrs.update({"long_name": "site identifier", "cf_role": "profile_id"})
            self._axis("lat", ("site",), lat, "latitude", "degrees_north", None)
            self._axis("lon", ("site",), lon, "longitude", "degrees_east", None)
        else:
            f.dimensions["lat"], f.dimensions["lon"] = len(lat), len(lon)
            self._axis("lat", ("lat",), lat, "latitude", "degrees_north", "Y")
            self._axis("lon", ("lon",), lon, "longitude", "degrees_east", "X")
        for p in table:  # CF writes "no unit" as "1"
            self._data(p.name, (), "1" if p.unit in ("-", "") else p.unit, p.meaning, (p.low, p.high))
        self.has_profile = depth is not None
        if self.has_profile:
            depth = np.asarray(depth, dtype=np.float64)
            f.dimensions["depth"], f.dimensions["nv"] = len(depth), 2
            axis = self._axis("depth", ("depth",), depth, "depth", "m", "Z")
            axis.attrs.update({"positive": "down", "long_name": "depth of the soil-layer node", "bounds": "depth_bnds"})
            if depth_bounds is not None:
                f.create_variable("depth_bnds", ("depth", "nv"), data=np.asarray(depth_bounds, dtype=np.float64))
            self._data("soc", ("depth",), "g m-3", "soil organic carbon density (grams of carbon), SOM 1 + 2 + 3")
            self._data("soc_stock", (), "g m-2", "soil organic carbon stock of the whole soil column "
                                                 "(grams of carbon)")

    def _axis(self, name: str, dims: tuple[str, ...], values: np.ndarray, standard: str, units: str, axis: str | None):
        variable = self.file.create_variable(name, dims, data=values)
        variable.attrs.update({"standard_name": standard, "long_name": standard, "units": units})
        if axis:
            variable.attrs["axis"] = axis
        return variable

    def _data(self, name: str, extra: tuple[str, ...], units: str, long_name: str,
              valid_range: tuple[float, float] | None = None) -> None:
        for suffix in ("", "_sd") if self.uncertainty else ("",):
            dims = (*extra, *self.space)
            variable = self.file.create_variable(name + suffix, dims, dtype=np.float32, fillvalue=np.float32(np.nan),
                                                 chunks=True)
            text = long_name if not suffix else f"standard deviation over the ensemble of: {long_name}"
            variable.attrs.update({"units": units, "long_name": text})
            if valid_range is not None and not suffix:
                variable.attrs["valid_range"] = np.array(valid_range, dtype=np.float32)
            if self.points:
                variable.attrs["coordinates"] = "lat lon"

    def write(self, cells: slice, params: np.ndarray, soc: np.ndarray | None = None, stock: np.ndarray | None = None,
              params_sd: np.ndarray | None = None, soc_sd: np.ndarray | None = None,
              stock_sd: np.ndarray | None = None) -> None:
        """Write ``cells`` (a slice of cell numbers: whole rows of a map, or sites).

        ``params`` [n_cells, n_params] in table order, ``soc`` [n_cells, n_nodes], ``stock`` [n_cells];
        NaN rows where nothing was predicted. The ``*_sd`` arrays only with ``uncertainty=True``.
        """
        start, stop, _ = cells.indices(int(np.prod(self.shape)))
        where = self._region(start, stop)
        values = {p.name: params[:, i] for i, p in enumerate(self.table)}
        if self.has_profile and soc is not None:
            values["soc"], values["soc_stock"] = soc, stock
        if self.uncertainty:
            if params_sd is not None:
                values.update({f"{p.name}_sd": params_sd[:, i] for i, p in enumerate(self.table)})
            if self.has_profile and soc_sd is not None:
                values["soc_sd"], values["soc_stock_sd"] = soc_sd, stock_sd
        for name, array in values.items():
            array = np.asarray(array, dtype=np.float32)
            variable = self.file[name]
            extra = array.shape[1:]  # e.g. the depth nodes: they come before the spatial dims
            block = array.reshape(*where[1], *extra)
            block = np.moveaxis(block, range(len(where[1])), range(len(extra), block.ndim))
            variable[(*[slice(None)] * len(extra), *where[0])] = block

    def _region(self, start: int, stop: int) -> tuple[tuple[slice, ...], tuple[int, ...]]:
        """(index into the spatial dims, shape) of cells ``start:stop``; for a map they must be whole rows."""
        if self.points:
            return (slice(start, stop),), (stop - start,)
        n_lon = self.shape[1]
        if start % n_lon or stop % n_lon:
            raise BinnInputError(f"a map is written in whole rows of {n_lon} cells; got cells {start}:{stop}")
        return (slice(start // n_lon, stop // n_lon), slice(None)), ((stop - start) // n_lon, n_lon)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "PredictionWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
