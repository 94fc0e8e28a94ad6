"""Observations simulated from any process model, with multiplicative log-normal noise.

Given physical parameters, forcing and NaN-padded observation coordinates ``[n_sites, n_obs]``
(depths in m, day numbers, ...), a :class:`~binn_lite.process.ProcessModel` predicts the value at
every coordinate; each prediction then gets independent relative noise

    observed = predicted x exp(noise x eps),    eps ~ N(0, 1)

(log-normal: always positive, about ``noise`` x 100 % scatter for small ``noise``; ``noise = 0``
returns the predictions exactly). The result is the long observation table that
:class:`~binn_lite.dataset.SiteDataset` takes: one row per finite coordinate.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from ..errors import BinnInputError
from ..process import ProcessModel

__all__ = ["simulate_observations"]


def simulate_observations(model: ProcessModel, params: torch.Tensor, forcing: Any,
                          coords: torch.Tensor | np.ndarray, site_ids: Sequence[Any], *, noise: float = 0.0,
                          seed: int | np.random.Generator | None = 0, coord_name: str = "depth_m",
                          value_name: str = "soc_gC_m3") -> pd.DataFrame:
    """Long table ``site_id, <coord_name>, <value_name>`` of ``model`` observed at ``coords``.

    Parameters
    ----------
    model : any process model; ``model.predict(params, forcing, coords)`` is evaluated without gradients.
    params : physical parameters ``[n_sites, n_params]``.
    forcing : the model's forcing for the same ``n_sites`` sites, in the same order.
    coords : observation coordinates ``[n_sites, n_obs]``, NaN where a site has fewer observations
        (e.g. ``SiteDataset.coords``). NaN entries give no row.
    site_ids : one id per site (row of ``coords``), e.g. ``SiteDataset.site_ids``.
    noise : relative standard deviation of the multiplicative log-normal noise (>= 0).
    seed : seed or ``numpy.random.Generator`` of the noise; one normal number is drawn per
        observation, site by site, even when ``noise = 0``.
    coord_name, value_name : column names of the coordinate and the observed value.

    Returns
    -------
    DataFrame with one row per finite coordinate, site by site in the order of ``site_ids`` and
    within a site in the order of ``coords``.
    """
    coords = torch.as_tensor(coords)
    if not coords.is_floating_point():
        coords = coords.to(torch.float64)
    site_ids = np.asarray(site_ids, dtype=object)
    if coords.ndim != 2:
        raise BinnInputError(f"coords must have shape [n_sites, n_obs]; got {tuple(coords.shape)}")
    n_sites = coords.shape[0]
    sizes = {"site_ids": len(site_ids), "params": params.shape[0], "forcing": len(forcing)}
    mismatched = {name: size for name, size in sizes.items() if size != n_sites}
    if mismatched:
        raise BinnInputError(f"coords has {n_sites} sites (rows) but "
                         + ", ".join(f"{name} has {size}" for name, size in mismatched.items())
                         + "; give one entry per site, in the same order")
    if not (np.isfinite(noise) and noise >= 0):
        raise BinnInputError(f"noise must be a relative standard deviation >= 0; got {noise!r}")

    with torch.no_grad():
        predicted = model.predict(params, forcing, coords).detach().cpu().numpy()
    coords = coords.detach().cpu().numpy()
    site, slot = np.nonzero(~np.isnan(coords))  # row-major: site by site, in coordinate order
    values = predicted[site, slot]
    if not np.all(np.isfinite(values)):
        k = int(np.flatnonzero(~np.isfinite(values))[0])
        raise BinnInputError(f"{type(model).__name__} predicts {values[k]} at site {site_ids[site[k]]!r}, "
                         f"{coord_name} = {coords[site[k], slot[k]]:g}; check the parameters and forcing")
    rng = np.random.default_rng(seed)
    values = values * np.exp(noise * rng.normal(size=values.shape))
    return pd.DataFrame({"site_id": site_ids[site], coord_name: coords[site, slot], value_name: values})
