"""The plug-in contract: what a process model must provide to be trained inside a BINN.

A BINN composes ``covariates -> head -> parameters -> process model -> predictions``
(:mod:`binn_lite.binn`). Everything after the head is a *process model*: a differentiable
:class:`torch.nn.Module` subclassing :class:`ProcessModel`. This docstring is the whole contract;
:func:`binn_lite.process_check.check_process_model` tests a model against it, and CLM5
(:class:`binn_lite.clm5.CLM5`), the Q10 respiration model (:mod:`binn_lite.q10`) and the two-pool
soil model (:mod:`binn_lite.two_pool`, the template to copy) all follow it.

1. Class attributes
-------------------
``parameter_table`` (required)
    A :class:`~binn_lite.parameters.ParameterTable`: every parameter's name, range ``[low, high]``,
    unit and default. The table fixes the column order of ``params`` everywhere. A head produces
    values in [0, 1] that become ``low + u (high - low)``; the model only ever sees physical values.
``most_influential`` (optional)
    Names learned by ``BINN(..., learn="most_influential")``; ``None`` (the default) for no preset.

2. ``forward(params, forcing) -> prediction``
---------------------------------------------
``params`` are *physical* parameters, a floating tensor ``[batch, n_params]`` in table order;
``forcing`` holds the same ``batch`` sites (see 4). The prediction is a tensor ``[batch, ...]``
on the model's own grid (CLM5: SOC at its 20 node depths, ``[batch, 20]``), with the dtype and
device of ``params``, finite for every ``params`` inside the table's ranges, and differentiable
with respect to ``params``. Calling the model, ``model(params, forcing)``, first runs
:meth:`ProcessModel.check_params`: the shape, and every value finite and inside its range
(:class:`~binn_lite.errors.BinnInputError` naming parameter, site and value otherwise; unit
values passed by mistake are recognised). ``forward`` itself can rely on that. To explore outside
the ranges on purpose, set ``model.allow_out_of_range = True`` (the model must then stay well
defined by its own checks).

3. ``observe(prediction, coords) -> values``
--------------------------------------------
Observations arrive as NaN-padded coordinates ``coords`` ``[batch, n_obs]`` (depths in m, days,
...): each site has its own number of observations and the rest of its row is NaN. ``observe``
returns the prediction at those coordinates, ``[batch, n_obs]``, NaN exactly where ``coords`` is
NaN and finite elsewhere (the loss skips NaN entries; dropping or zero-filling them would misalign
sites). A prediction on a grid is read off with :func:`interpolate` (any monotone grid):
``return interpolate(prediction, MY_GRID, coords)``.

4. The forcing protocol
-----------------------
The forcing object is the model's own class (:class:`binn_lite.forcing.Forcing` for CLM5,
:class:`binn_lite.q10.TemperatureForcing`, or yours). Training and prediction only use:

``len(forcing)``
    the number of sites.
``forcing[index]``
    the same kind of object for a subset of sites, in the order given. ``index`` may be an
    ``int`` (a one-site forcing, batch 1), a ``slice``, a ``list``/``tuple`` of ints, a NumPy
    integer array, a ``torch.long`` tensor (on the CPU or on the model's device) or a boolean mask
    (NumPy or torch) of length ``len(forcing)``. :func:`site_index` turns all of these into
    something a tensor can be indexed with: ``field[site_index(index, field.device)]``.
``forcing.to(device=None, dtype=None)``
    a copy on ``device`` with its floating-point fields cast to ``dtype`` (integer fields keep
    their type). ``forward`` calls it to follow ``params``.

5. Saving and loading: ``config()``
-----------------------------------
:meth:`binn_lite.binn.BINN.save` stores the process model's class name, ``model.config()`` (its
constructor arguments as plain data: numbers, strings, lists, dicts) and its ``state_dict()``.
:meth:`~binn_lite.binn.BINN.load` rebuilds it as ``cls(**config)`` and loads the state. For a
model outside binn_lite pass the class (or an instance) yourself, since a file never names code to
import: ``BINN.load(path, process_model=MyModel)``. The default ``config()`` returns ``{}``
(a constructor without arguments); override it when your ``__init__`` takes arguments.

6. Optional extras
------------------
``mass_balance(params, forcing) -> residual``
    A model that conserves something can say so: return the relative imbalance per site
    ``[batch]`` (CLM5: ``(input - respiration) / input`` at steady state). The checker then
    requires it to be near zero. Models without such a law leave it out.
``nonfinite_hints`` (class attribute, ``tuple[str, ...]``, default ``()``)
    Model-specific likely causes of a NaN or infinite training loss, each a short clause;
    :func:`binn_lite.train.fit` lists them after its generic causes when the loss stops being finite.
``precompute(forcing, params, varying) -> forcing-like``
    Training learns a few parameters (``varying``, names); the rest stay at the values in
    ``params`` ``[n_sites, n_params]``. A model can compute once, for all the training sites of
    ``forcing``, whatever only the forcing and those fixed values determine, and return an object
    that follows the forcing protocol (section 4) and stands in for ``forcing``:
    ``model(theta, cached[index])`` must equal ``model(theta, forcing[index])`` (values, and
    gradients with respect to the ``varying`` columns) whenever ``theta`` keeps the fixed columns,
    and raise :class:`~binn_lite.errors.BinnInputError` when it does not. Build it from the forcing
    and parameters in the training dtype. CLM5: :mod:`binn_lite.clm5_cache`.

A complete model on its own grid
--------------------------------
::

    GRID = torch.linspace(0.0, 2.0, 41)                         # m, the model's own depth nodes

    class ExponentialProfile(ProcessModel):
        parameter_table = ParameterTable([
            Parameter("surface_soc", 1e3, 5e4, "gC m-3", "SOC at the surface", 2e4),
            Parameter("efolding", 0.1, 1.5, "m", "depth over which SOC falls by e", 0.5),
        ])

        def forward(self, params, forcing):          # params checked by ProcessModel.__call__
            p = self.parameter_table.as_dict(params)
            z = GRID.to(params)
            return p["surface_soc"][:, None] * torch.exp(-z / p["efolding"][:, None])

        def observe(self, prediction, coords):
            return interpolate(prediction, GRID, coords)

With a forcing class that has ``__len__``, ``__getitem__`` and ``to`` (section 4) this model
trains with :func:`binn_lite.train.fit`, saves, and loads with
``BINN.load(path, process_model=ExponentialProfile)``.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from .errors import BinnInputError
from .parameters import ParameterTable

__all__ = ["ProcessModel", "interpolate", "site_index"]


def site_index(index: Any, device: torch.device) -> Any:
    """Normalise a site selection for ``forcing[index]`` (section 4 of the module docstring).

    An ``int`` (or a 0-d tensor) becomes a one-site index (so the batch dimension stays), lists,
    tuples and NumPy arrays become index tensors on ``device``, tensors move to ``device``; slices
    pass through.
    """
    if isinstance(index, (int, np.integer)):
        index = [int(index)]
    if isinstance(index, (list, tuple, np.ndarray)):
        index = torch.as_tensor(np.asarray(index))
    if isinstance(index, torch.Tensor):
        index = index.to(device)
        if index.ndim == 0 and index.dtype != torch.bool:  # one site, as an int
            index = index.reshape(1)
    return index


def _increasing(values: torch.Tensor, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``values`` and ``grid`` ``[batch, n]`` flipped along dim 1 if the grid decreases.

    Raises a ValueError unless the grid is finite and strictly monotone (the same way on every row).
    """
    if grid.shape[-1] < 2:
        raise BinnInputError(f"a grid needs at least 2 points; got {grid.shape[-1]}")
    if not bool(torch.isfinite(grid).all()):
        raise BinnInputError("the grid has NaN or infinite points")
    if bool((grid[:, -1] < grid[:, 0]).all()):
        grid, values = grid.flip(-1), values.flip(-1)
    if not bool((grid.diff(dim=-1) > 0).all()):
        raise BinnInputError("the grid must be strictly increasing or strictly decreasing")
    return values, grid


def interpolate(values: torch.Tensor, grid: Any, coords: torch.Tensor) -> torch.Tensor:
    """Values on a grid, read at coordinates by linear interpolation (the usual ``observe``).

    Parameters
    ----------
    values : Tensor ``[batch, n]``, the prediction at the grid points.
    grid : the grid points, ``[n]`` (one grid for all sites) or ``[batch, n]`` (one per site);
        strictly monotone (increasing or decreasing), in the unit of ``coords``.
    coords : Tensor ``[batch, n_obs]``, NaN-padded observation coordinates.

    Returns
    -------
    Tensor ``[batch, n_obs]`` with the dtype and device of ``values``: linear between neighbouring
    grid points, the end value beyond either end, NaN where ``coords`` is NaN. Gradients flow to
    ``values`` through the finite entries only.
    """
    if values.ndim != 2:
        raise BinnInputError(f"values must have shape [batch, n_grid]; got {tuple(values.shape)}")
    batch, n = values.shape
    grid = torch.as_tensor(grid).to(values)
    if grid.ndim == 1:
        grid = grid.expand(batch, -1)
    if grid.shape != values.shape:
        raise BinnInputError(
            f"the grid must have shape [{n}] or [{batch}, {n}] to match values {tuple(values.shape)}; "
            f"got {tuple(grid.shape)}"
        )
    coords = torch.as_tensor(coords).to(values)
    if coords.ndim != 2 or coords.shape[0] != batch:
        raise BinnInputError(f"coords must have shape [batch={batch}, n_obs]; got {tuple(coords.shape)}")
    values, grid = _increasing(values, grid)
    missing = torch.isnan(coords)
    first, last = grid[:, :1], grid[:, -1:]
    z = torch.minimum(torch.maximum(torch.where(missing, first, coords), first), last)
    left = torch.clamp(torch.searchsorted(grid.contiguous(), z.contiguous(), right=True) - 1, 0, n - 2)
    g0, g1 = torch.gather(grid, 1, left), torch.gather(grid, 1, left + 1)
    weight = (z - g0) / (g1 - g0)
    value = torch.gather(values, 1, left) * (1 - weight) + torch.gather(values, 1, left + 1) * weight
    return torch.where(missing, torch.full_like(value, float("nan")), value)


class ProcessModel(torch.nn.Module):
    """Base class of a differentiable process model; the contract is the module docstring."""

    parameter_table: ClassVar[ParameterTable]
    #: names learned by ``BINN(..., learn="most_influential")``; ``None``: the model has no preset
    most_influential: ClassVar[tuple[str, ...] | None] = None
    #: likely causes of a non-finite training loss specific to this model (section 6)
    nonfinite_hints: ClassVar[tuple[str, ...]] = ()
    #: skip the range check of :meth:`check_params` (set on an instance to explore outside the ranges)
    allow_out_of_range: bool = False

    def forward(self, params: torch.Tensor, forcing: Any) -> torch.Tensor:
        """Prediction ``[batch, ...]`` on the model's grid from physical parameters ``[batch, n_params]``."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(params, forcing)")

    def observe(self, prediction: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Prediction at NaN-padded observation coordinates ``[batch, n_obs]`` (NaN in, NaN out)."""
        raise NotImplementedError(f"{type(self).__name__} must define observe(prediction, coords)")

    def predict(self, params: torch.Tensor, forcing: Any, coords: torch.Tensor) -> torch.Tensor:
        """``observe(forward(params, forcing), coords)``."""
        return self.observe(self(params, forcing), coords)

    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain data, so ``type(self)(**self.config())`` rebuilds the model."""
        return {}

    def __call__(self, params: Any, forcing: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        """``forward(params, forcing)`` after :meth:`check_params` (section 2 of the contract).

        ``params`` of shape ``[n_params]`` (one set for every site) is expanded to ``[batch, n_params]``.
        """
        if not isinstance(params, torch.Tensor):
            params = torch.as_tensor(params, dtype=torch.get_default_dtype())
        if params.ndim == 1 and hasattr(forcing, "__len__"):  # one parameter set for every site
            self.check_params(params[None])
            params = params.expand(len(forcing), -1)
        self.check_params(params)
        return super().__call__(params, forcing, *args, **kwargs)

    def check_params(self, params: torch.Tensor) -> None:
        """Raise a clear error unless ``params`` is a floating tensor ``[batch, n_params]`` of finite
        values inside the table's ranges (the ranges are skipped when ``allow_out_of_range``)."""
        table = self.parameter_table
        n = len(table)
        if not isinstance(params, torch.Tensor) or params.ndim != 2 or params.shape[1] != n:
            shape = tuple(params.shape) if isinstance(params, torch.Tensor) else type(params).__name__
            raise BinnInputError(
                f"{type(self).__name__} expects physical parameters of shape [batch, {n}] "
                f"({', '.join(table.names)}); got {shape}"
            )
        if not params.is_floating_point():
            raise BinnInputError(f"{type(self).__name__} expects floating-point parameters; got {params.dtype}")
        if self.allow_out_of_range:
            if not bool(torch.isfinite(params.detach()).all()):
                site, column = (int(i) for i in (~torch.isfinite(params.detach())).nonzero()[0])
                raise BinnInputError(f"parameter {table.names[column]!r} must be finite; site {site} has "
                                     f"{float(params[site, column])}")
            return
        try:
            table.check_physical(params)
        except BinnInputError as error:
            raise BinnInputError(f"{type(self).__name__}: {error}. (To explore outside the ranges on "
                                 "purpose, set model.allow_out_of_range = True.)") from None
