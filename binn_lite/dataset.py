"""Site datasets: covariates, observations, forcing and (for synthetic data) the true parameters.

A BINN learns from many *sites*. Each site has

* covariates (climate, soil, vegetation: one row of a table, ``sites``),
* observations: a few values at coordinates (SOC in gC m-3 at depths in m for a soil profile),
  kept in a long table ``site_id, <coord_name>, <value_name>``,
* forcing: whatever its process model needs (for CLM5 a :class:`~binn_lite.clm5.Forcing`), with
  one entry per site in the same order as ``sites``,
* for synthetic data, the parameters that generated the observations
  (:class:`~binn_lite.data.truth.Truth`).

:class:`SiteDataset` holds all four and turns the ragged observations into NaN-padded tensors
``coords``/``targets`` of shape ``[n_sites, max_obs]`` for batched training. It does not know about
soils or CLM5; any process model whose forcing supports ``len(f)``, ``f[index]`` and ``f.to(...)``
works.

Cross-validation (Xu et al. 2025 use 10 folds): :meth:`SiteDataset.split` gives ``k`` folds,
either at random or *spatially*, by whole blocks of ``cell_deg`` x ``cell_deg`` degree grid cells
(2 degrees as in ScIReN), so that no test site has a training neighbour in its own cell.

Covariates are normalised to zero mean and unit standard deviation with statistics fitted on the
training sites only (:meth:`SiteDataset.fit_normalizer`); the :class:`Normalizer` is then reused,
unchanged, on test sites or entirely new ones.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .errors import BinnInputError

if TYPE_CHECKING:  # binn_lite.data builds on this module, so the Truth type is only named here
    from .data.truth import Truth

__all__ = ["SiteDataset", "Normalizer", "positions"]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def positions(index: Any, n: int) -> np.ndarray:
    """Turn a site selection into integer positions ``0..n-1`` (numpy int64, order kept).

    ``index`` may be an int, a slice, a list or array of positions (numpy or torch), or a boolean
    mask of length ``n``.
    """
    if isinstance(index, slice):
        return np.arange(n, dtype=np.int64)[index]
    if isinstance(index, torch.Tensor):
        index = index.detach().cpu().numpy()
    if isinstance(index, (int, np.integer)):
        index = [int(index)]
    array = np.asarray(index)
    if array.dtype == bool:
        if array.shape != (n,):
            raise BinnInputError(f"boolean site mask has shape {array.shape}; expected ({n},)")
        return np.flatnonzero(array).astype(np.int64)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind not in "iu":
        raise BinnInputError(f"site index must be integer positions or a boolean mask; got dtype {array.dtype}")
    array = array.astype(np.int64).reshape(-1)
    if array.min() < -n or array.max() >= n:
        bad = array[(array < -n) | (array >= n)][0]
        raise BinnInputError(f"site position {bad} out of range for {n} sites")
    return np.where(array < 0, array + n, array)


# ---------------------------------------------------------------------------------------------
# Normalizer
# ---------------------------------------------------------------------------------------------
class Normalizer:
    """Z-score covariates: ``(x - mean) / std`` per feature, statistics fitted once.

    Parameters
    ----------
    mean, std : pandas Series indexed by feature name (same index, std > 0).

    Fit it on training sites (:meth:`fit` or :meth:`SiteDataset.fit_normalizer`) and reuse it on any
    other sites; :meth:`to_dict` / :meth:`from_dict` make it JSON-serialisable.
    """

    def __init__(self, mean: pd.Series, std: pd.Series):
        mean = pd.Series(mean, dtype=np.float64)
        std = pd.Series(std, dtype=np.float64)
        if list(mean.index) != list(std.index):
            raise BinnInputError(f"mean and std must have the same features; got {list(mean.index)} and {list(std.index)}")
        bad = std[~(np.isfinite(std) & (std > 0))]
        if len(bad):
            raise BinnInputError(f"standard deviation of feature {bad.index[0]!r} must be finite and > 0; got {bad.iloc[0]}")
        bad = mean[~np.isfinite(mean)]
        if len(bad):
            raise BinnInputError(f"mean of feature {bad.index[0]!r} must be finite; got {bad.iloc[0]}")
        self.mean = mean
        self.std = std

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.mean.index)

    @classmethod
    def fit(cls, covariates: pd.DataFrame, feature_names: Sequence[str] | None = None) -> "Normalizer":
        """Mean and (population) standard deviation of each feature column.

        A feature that is constant over the fitting sites gets ``std = 1`` (with a warning naming it)
        so that it maps to 0 instead of dividing by zero.
        """
        names = list(feature_names) if feature_names is not None else list(covariates.columns)
        values = _numeric_block(covariates, names, "covariates")
        if len(values) == 0:
            raise BinnInputError("cannot fit a normalizer on zero sites")
        mean = values.mean(axis=0)
        std = values.std(axis=0, ddof=0)
        constant = [n for n in names if not std[n] > 0]
        if constant:
            warnings.warn(
                f"feature(s) {', '.join(constant)} constant over the fitting sites; using std = 1", stacklevel=2
            )
            std[constant] = 1.0
        return cls(mean, std)

    def transform(self, data: "pd.DataFrame | SiteDataset") -> torch.Tensor:
        """Normalised features, float32 Tensor ``[n_sites, n_features]`` (columns in feature order)."""
        frame = data.sites if isinstance(data, SiteDataset) else data
        values = _numeric_block(frame, list(self.feature_names), "covariates")
        z = (values - self.mean) / self.std
        return torch.tensor(z.to_numpy(dtype=np.float64), dtype=torch.float32)

    def inverse_transform(self, z: torch.Tensor | np.ndarray) -> pd.DataFrame:
        """Covariates in their own units from normalised values ``[n, n_features]``."""
        array = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
        return pd.DataFrame(array * self.std.to_numpy() + self.mean.to_numpy(), columns=list(self.feature_names))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: ``{"features": [...], "mean": [...], "std": [...]}``."""
        return {"features": list(self.feature_names), "mean": [float(v) for v in self.mean],
                "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Normalizer":
        """Inverse of :meth:`to_dict`."""
        return cls(pd.Series(d["mean"], index=d["features"]), pd.Series(d["std"], index=d["features"]))

    def __repr__(self) -> str:
        return f"Normalizer({len(self.mean)} features: {', '.join(self.feature_names)})"


def _numeric_block(frame: pd.DataFrame, names: Sequence[str], what: str) -> pd.DataFrame:
    """``frame[names]`` as float64, with a clear error for missing, non-numeric or NaN entries."""
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise BinnInputError(f"{what}: missing column(s) {', '.join(map(repr, missing))}; "
                             f"have {', '.join(map(str, frame.columns))}")
    block = frame[list(names)]
    for name in names:
        column = block[name]
        if isinstance(column, pd.DataFrame):
            raise BinnInputError(f"{what}: column {name!r} appears {column.shape[1]} times")
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise BinnInputError(f"{what}: column {name!r} is not numeric (dtype {column.dtype})")
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            kind = "a missing (NaN)" if np.isnan(values[i]) else "an infinite"
            raise BinnInputError(f"{what}: column {name!r} has {kind} value at site {frame.index[i]!r}")
    return block.astype(np.float64)


# ---------------------------------------------------------------------------------------------
# SiteDataset
# ---------------------------------------------------------------------------------------------
class SiteDataset:
    """Sites with covariates, observations, forcing and optional truth (see the module docstring).

    Parameters
    ----------
    sites : DataFrame indexed by unique ``site_id``; any columns, usually ``lon``, ``lat`` (degrees)
        and the covariates.
    observations : long DataFrame with columns ``site_id``, ``coord_name``, ``value_name`` (extra
        columns are kept). Every ``site_id`` must be in ``sites``; a site may have no observation
        (its rows in ``coords``/``targets`` are all NaN).
    forcing : one entry per site, in the order of ``sites`` (supports ``len``, ``[index]``, ``.to``).
    feature_names : covariate columns used as network inputs.
    truth : the generating parameters (synthetic data), indexed by the same site ids.
    coord_name, value_name : observation columns; for soils ``depth_m`` (m) and ``soc_gC_m3`` (gC m-3).

    Attributes
    ----------
    coords, targets : float64 Tensors ``[n_sites, max_obs]``, NaN-padded; row i belongs to site i,
        entries sorted by coordinate. ``depth`` and ``soc`` are aliases.
    n_obs : int64 Tensor ``[n_sites]``, observations per site.
    """

    def __init__(self, sites: pd.DataFrame, observations: pd.DataFrame, forcing: Any,
                 feature_names: Sequence[str], truth: Truth | None = None,
                 coord_name: str = "depth_m", value_name: str = "soc_gC_m3"):
        for name, table in (("sites", sites), ("observations", observations)):
            if not isinstance(table, pd.DataFrame):
                raise BinnInputError(f"{name} must be a pandas DataFrame; got {type(table).__name__}")
        if not sites.index.is_unique:
            dup = sites.index[sites.index.duplicated()][0]
            raise BinnInputError(f"sites: duplicate site_id {dup!r}")
        self.sites = sites.copy()
        if self.sites.index.name is None:
            self.sites.index.name = "site_id"
        self.feature_names = tuple(feature_names)
        _numeric_block(self.sites, self.feature_names, "sites")
        self.coord_name = coord_name
        self.value_name = value_name
        missing = [c for c in ("site_id", coord_name, value_name) if c not in observations.columns]
        if missing:
            raise BinnInputError(f"observations: missing column(s) {', '.join(missing)}; "
                                 f"have {', '.join(map(str, observations.columns))}")
        _numeric_block(observations.set_index("site_id"), [coord_name, value_name], "observations")
        try:
            n_forcing = len(forcing)
        except TypeError:
            raise BinnInputError(f"forcing must hold one entry per site (support len, [index] and .to); "
                                 f"got {type(forcing).__name__}") from None
        if n_forcing != len(self.sites):
            raise BinnInputError(f"forcing has {n_forcing} sites but the site table has {len(self.sites)}")
        self.forcing = forcing
        if truth is not None:
            absent = self.sites.index.difference(truth.params.index)
            if len(absent):
                raise BinnInputError(f"truth has no parameters for site {absent[0]!r}")
            if len(truth) != len(self.sites) or not truth.params.index.equals(self.sites.index):
                truth = truth.subset(self.sites.index)
        self.truth = truth

        # order the observations by site (in table order), then by coordinate
        site_pos = pd.Index(self.sites.index).get_indexer(observations["site_id"])
        if (site_pos < 0).any():
            bad = observations["site_id"].to_numpy()[site_pos < 0][0]
            raise BinnInputError(f"observations: site_id {bad!r} is not in the site table")
        obs = observations.copy()
        obs["_pos"] = site_pos
        obs = obs.sort_values(["_pos", coord_name], kind="mergesort")
        pos = obs.pop("_pos").to_numpy()
        self.observations = obs.reset_index(drop=True)

        n = len(self.sites)
        counts = np.bincount(pos, minlength=n)
        max_obs = int(counts.max()) if n and len(pos) else 0
        first = np.concatenate([[0], np.cumsum(counts)[:-1]]) if n else np.zeros(0, dtype=np.int64)
        slot = np.arange(len(pos)) - first[pos]
        coords = np.full((n, max_obs), np.nan)
        targets = np.full((n, max_obs), np.nan)
        coords[pos, slot] = self.observations[coord_name].to_numpy(dtype=np.float64)
        targets[pos, slot] = self.observations[value_name].to_numpy(dtype=np.float64)
        self.coords = torch.from_numpy(coords)
        self.targets = torch.from_numpy(targets)
        self.n_obs = torch.from_numpy(counts.astype(np.int64))

    # -- views ----------------------------------------------------------------------------------
    @property
    def site_ids(self) -> pd.Index:
        return self.sites.index

    @property
    def covariates(self) -> pd.DataFrame:
        """The network-input columns of the site table."""
        return self.sites[list(self.feature_names)]

    @property
    def depth(self) -> torch.Tensor:
        """Alias of :attr:`coords` (m, for soil profiles)."""
        return self.coords

    @property
    def soc(self) -> torch.Tensor:
        """Alias of :attr:`targets` (gC m-3, for soil profiles)."""
        return self.targets

    def __len__(self) -> int:
        return len(self.sites)

    def __repr__(self) -> str:
        truth = f", truth={self.truth.scenario!r}" if self.truth is not None else ""
        return (f"SiteDataset({len(self)} sites, {len(self.observations)} observations, "
                f"{len(self.feature_names)} features{truth})")

    # -- selections -------------------------------------------------------------------------------
    def subset(self, index: Any) -> "SiteDataset":
        """The sites at ``index`` (positions: int, slice, list/array/tensor, or boolean mask)."""
        pos = positions(index, len(self))
        if len(np.unique(pos)) != len(pos):
            raise BinnInputError("subset: site positions must be unique (a site id may appear only once)")
        sites = self.sites.iloc[pos]
        obs = self.observations[self.observations["site_id"].isin(sites.index)]
        truth = self.truth.subset(sites.index) if self.truth is not None else None
        return SiteDataset(sites, obs, self.forcing[torch.from_numpy(pos)], self.feature_names, truth,
                           self.coord_name, self.value_name)

    def grid_cells(self, cell_deg: float = 2.0) -> np.ndarray:
        """Grid cell of each site, ``[n_sites, 2]`` ints ``floor(lon / cell_deg), floor(lat / cell_deg)``."""
        for column in ("lon", "lat"):
            if column not in self.sites.columns:
                raise BinnInputError(f"spatial split needs site columns 'lon' and 'lat'; missing {column!r}")
        if not cell_deg > 0:
            raise BinnInputError(f"cell_deg must be > 0; got {cell_deg}")
        lonlat = self.sites[["lon", "lat"]].to_numpy(dtype=np.float64)
        return np.floor(lonlat / cell_deg).astype(np.int64)

    def split(self, k: int = 10, kind: str = "random", seed: int = 0,
              cell_deg: float = 2.0) -> list[tuple[np.ndarray, np.ndarray]]:
        """``k`` cross-validation folds as ``(train_positions, test_positions)`` (sorted int arrays).

        Every site is a test site in exactly one fold. ``kind="random"``: sites shuffled with
        ``seed`` and cut into ``k`` near-equal parts. ``kind="spatial"``: whole ``cell_deg`` grid cells
        are shuffled and each given to the fold with the fewest sites so far, so sites of one cell
        are never split between training and test.
        """
        n = len(self)
        if not (isinstance(k, (int, np.integer)) and k >= 2):
            raise BinnInputError(f"k must be an integer >= 2; got {k!r}")
        if k > n:
            raise BinnInputError(f"k = {k} folds needs at least {k} sites; have {n}")
        rng = np.random.default_rng(seed)
        if kind == "random":
            parts = np.array_split(rng.permutation(n), k)
        elif kind == "spatial":
            cells = self.grid_cells(cell_deg)
            _, cell_of_site = np.unique(cells, axis=0, return_inverse=True)
            cell_of_site = cell_of_site.reshape(-1)
            n_cells = int(cell_of_site.max()) + 1
            if n_cells < k:
                raise BinnInputError(f"spatial split: only {n_cells} grid cells of {cell_deg} degrees for k = {k} folds")
            sizes = np.bincount(cell_of_site, minlength=n_cells)
            fold_of_cell = np.empty(n_cells, dtype=np.int64)
            load = np.zeros(k, dtype=np.int64)
            for cell in rng.permutation(n_cells):
                fold = int(np.argmin(load))
                fold_of_cell[cell] = fold
                load[fold] += sizes[cell]
            fold_of_site = fold_of_cell[cell_of_site]
            parts = [np.flatnonzero(fold_of_site == f) for f in range(k)]
        else:
            raise BinnInputError(f"split kind must be 'random' or 'spatial'; got {kind!r}")
        everything = np.arange(n)
        folds = []
        for part in parts:
            test = np.sort(part).astype(np.int64)
            folds.append((np.setdiff1d(everything, test).astype(np.int64), test))
        return folds

    def fit_normalizer(self, index: Any = None) -> Normalizer:
        """Z-score statistics of the feature columns over the sites at ``index`` (default: all)."""
        sites = self.sites if index is None else self.sites.iloc[positions(index, len(self))]
        return Normalizer.fit(sites, self.feature_names)
