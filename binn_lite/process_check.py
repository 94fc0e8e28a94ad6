"""Check a process model against the plug-in contract before training it.

:func:`check_process_model` runs a model through everything a BINN will ask of it (the contract
is the docstring of :mod:`binn_lite.process`) and returns a :class:`ProcessModelReport`, one line
per check, each failure naming the site and the value::

    report = check_process_model(MyModel(), forcing, coords)
    print(report)                 # PASS / FAIL lines
    report.raise_if_failed()      # or stop a script here

The checks, in order:

* **parameter table** -- a :class:`~binn_lite.parameters.ParameterTable` with finite ranges;
  ``most_influential`` names parameters of the table.
* **forcing protocol** -- ``len``; ``forcing[index]`` for every index kind (int, slice, list,
  NumPy array, tensor, boolean mask) has the right length; ``.to(dtype=...)`` keeps the length.
* **shapes** -- ``forward`` gives a finite ``[batch, ...]`` tensor with the dtype of ``params``;
  ``observe`` gives ``[batch, n_obs]``.
* **NaN coordinates** -- NaN exactly where a coordinate is NaN (an extra all-NaN column too),
  finite elsewhere.
* **site order** -- ``forward(params[idx], forcing[idx])`` equals ``forward(params, forcing)[idx]``
  for a shuffled ``idx``: the forcing subset follows the order given.
* **finite gradients** -- predictions and d(prediction)/d(params) finite at the centre, at random
  corners of the unit cube (every parameter at ``low`` or ``high``) and at random interior points.
* **float32** -- float32 predictions within ``rtol`` (relative) of float64 at the observed
  coordinates, with finite float32 gradients, at the same parameter sets.
* **deterministic** -- two calls give identical predictions.
* **mass balance** (only if the model defines ``mass_balance``) -- ``|residual| <= mass_tol``.
* **precompute** (only if the model defines ``precompute``) -- the precomputed forcing gives the
  plain model's predictions, and a changed fixed parameter is refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .errors import BinnInputError
from .parameters import ParameterTable
from .process import ProcessModel

__all__ = ["Check", "ProcessModelReport", "check_process_model"]


@dataclass
class Check:
    """One line of the report: its name, whether it passed and what was found."""

    name: str
    passed: bool
    detail: str

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


@dataclass
class ProcessModelReport:
    """What :func:`check_process_model` found: ``print(report)`` shows one line per check."""

    model: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def __getitem__(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check named {name!r}; checks: {', '.join(c.name for c in self.checks)}")

    def __str__(self) -> str:
        verdict = "follows the contract" if self.passed else f"{len(self.failures)} check(s) failed"
        return "\n".join([f"{self.model}: {verdict}", *map(str, self.checks)])

    __repr__ = __str__

    def raise_if_failed(self) -> None:
        """Raise a ``ValueError`` listing the failed checks (nothing if all passed)."""
        if not self.passed:
            raise BinnInputError(f"{self.model} breaks the process-model contract:\n"
                             + "\n".join(map(str, self.failures)))


class _Failed(Exception):
    """A check found a problem; the message is the report's detail."""


# -------------------------------------------------------------------------------------------------
# The parameter sets every numerical check uses
# -------------------------------------------------------------------------------------------------
@dataclass
class _Samples:
    """Unit parameter sets ``unit`` [k, n_params], labelled, each evaluated on every checked site."""

    unit: torch.Tensor
    labels: list[str]

    def describe(self, table: ParameterTable, k: int) -> str:
        physical = table.to_physical(self.unit[k])
        values = ", ".join(f"{n}={float(v):.4g}" for n, v in zip(table.names, physical))
        return f"{self.labels[k]} ({values})"


def _samples(table: ParameterTable, n_corners: int, n_interior: int, seed: int) -> _Samples:
    rng = np.random.default_rng(seed)
    n = len(table)
    corners = rng.integers(0, 2, size=(n_corners, n)).astype(np.float64)
    interior = rng.uniform(0.0, 1.0, size=(n_interior, n))
    unit = np.concatenate([np.full((1, n), 0.5), corners, interior])
    labels = (["the centre of the unit cube"]
              + [f"corner {''.join(str(int(b)) for b in row)} of the unit cube" for row in corners]
              + [f"interior point {i}" for i in range(n_interior)])
    return _Samples(torch.as_tensor(unit), labels)


@dataclass
class _Case:
    """Every sample on every checked site: row ``r`` is sample ``r // n_sites`` at site ``r % n_sites``."""

    model: ProcessModel
    forcing: Any
    coords: torch.Tensor
    samples: _Samples
    n_sites: int

    def inputs(self, dtype: torch.dtype) -> tuple[torch.Tensor, Any, torch.Tensor]:
        table = self.model.parameter_table
        k = len(self.samples.labels)
        params = table.to_physical(self.samples.unit).repeat_interleave(self.n_sites, dim=0)
        sites = np.tile(np.arange(self.n_sites), k)
        return (params.to(dtype).requires_grad_(True), self.forcing[sites].to(dtype=dtype),
                self.coords[sites].to(dtype))

    def where(self, row: int) -> str:
        site, k = row % self.n_sites, row // self.n_sites
        return f"site {site}, {self.samples.describe(self.model.parameter_table, k)}"


def _predict_with_gradient(case: _Case, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Observed predictions ``[rows, n_obs]``, d(sum of finite ones)/d(params) and the NaN mask of coords."""
    params, forcing, coords = case.inputs(dtype)
    values = case.model.predict(params, forcing, coords)
    observed = ~torch.isnan(coords)
    total = torch.where(observed, values, torch.zeros_like(values)).sum()
    (grad,) = torch.autograd.grad(total, params, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(params)
    return values.detach(), grad, observed


def _first_row(bad: torch.Tensor) -> int:
    return int(bad.reshape(bad.shape[0], -1).any(dim=1).nonzero()[0, 0])


# -------------------------------------------------------------------------------------------------
# The checks (each raises _Failed with a detail, or returns the detail of a pass)
# -------------------------------------------------------------------------------------------------
def _check_table(model: ProcessModel) -> str:
    table = getattr(model, "parameter_table", None)
    if not isinstance(table, ParameterTable):
        raise _Failed(f"parameter_table must be a binn_lite ParameterTable; got {type(table).__name__}")
    for p in table:
        if not (np.isfinite(p.low) and np.isfinite(p.high)):
            raise _Failed(f"parameter {p.name!r} has a non-finite range [{p.low}, {p.high}]")
    preset = getattr(model, "most_influential", None)
    unknown = [n for n in (preset or ()) if n not in table]
    if unknown:
        raise _Failed(f"most_influential names unknown parameter(s) {', '.join(unknown)}")
    return f"{len(table)} parameters ({', '.join(table.names)})"


def _check_forcing(forcing: Any, n_sites: int) -> str:
    if len(forcing) != n_sites:
        raise _Failed(f"len(forcing) is {len(forcing)} but coords has {n_sites} rows (one per site)")
    mask = np.zeros(n_sites, dtype=bool)
    mask[::2] = True
    two = [1, 0] if n_sites > 1 else [0, 0]
    kinds = {"int": (0, 1), "slice": (slice(0, 2), min(2, n_sites)), "list": (two, 2),
             "numpy array": (np.array(two), 2), "tensor": (torch.tensor(two), 2),
             "numpy mask": (mask, int(mask.sum())), "tensor mask": (torch.from_numpy(mask), int(mask.sum()))}
    for kind, (index, expected) in kinds.items():
        try:
            got = len(forcing[index])
        except Exception as error:  # noqa: BLE001 - the report names what went wrong
            raise _Failed(f"forcing[{kind}] raised {type(error).__name__}: {error}") from None
        if got != expected:
            raise _Failed(f"forcing[{kind}] has {got} sites, expected {expected}")
    for dtype in (torch.float32, torch.float64):
        if len(forcing.to(dtype=dtype)) != n_sites:
            raise _Failed(f"forcing.to(dtype={dtype}) changed the number of sites")
    return f"{n_sites} sites; int, slice, list, array, tensor and mask indexing; .to(dtype)"


def _check_shapes(model: ProcessModel, forcing: Any, coords: torch.Tensor) -> str:
    params = model.parameter_table.default.expand(len(forcing), -1).clone()
    prediction = model(params, forcing)
    if not isinstance(prediction, torch.Tensor) or prediction.ndim < 1 or prediction.shape[0] != len(forcing):
        shape = tuple(prediction.shape) if isinstance(prediction, torch.Tensor) else type(prediction).__name__
        raise _Failed(f"forward gave {shape} for {len(forcing)} sites; expected [{len(forcing)}, ...]")
    if prediction.dtype != params.dtype:
        raise _Failed(f"forward returned {prediction.dtype} for {params.dtype} parameters")
    if not bool(torch.isfinite(prediction).all()):
        raise _Failed(f"forward gave a non-finite value at default parameters, site {_first_row(~torch.isfinite(prediction))}")
    values = model.observe(prediction, coords)
    if not isinstance(values, torch.Tensor) or tuple(values.shape) != tuple(coords.shape):
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise _Failed(f"observe gave {shape} for coords of shape {tuple(coords.shape)}")
    return f"forward {tuple(prediction.shape)}, observe {tuple(values.shape)}"


def _check_nan_coords(model: ProcessModel, forcing: Any, coords: torch.Tensor) -> str:
    params = model.parameter_table.default.expand(len(forcing), -1).clone()
    padded = torch.cat([coords, torch.full_like(coords[:, :1], float("nan"))], dim=1)
    values = model.observe(model(params, forcing), padded)
    if tuple(values.shape) != tuple(padded.shape):
        raise _Failed(f"observe gave {tuple(values.shape)} for coords {tuple(padded.shape)}: NaN padding dropped?")
    missing = torch.isnan(padded)
    leaked = missing & ~torch.isnan(values)
    if bool(leaked.any()):
        row = _first_row(leaked)
        raise _Failed(f"site {row}: a NaN coordinate gave {float(values[row][leaked[row]][0]):g}, not NaN")
    lost = ~missing & ~torch.isfinite(values)
    if bool(lost.any()):
        row = _first_row(lost)
        col = int(lost[row].nonzero()[0, 0])
        raise _Failed(f"site {row}: coordinate {float(padded[row, col]):g} gave {float(values[row, col])}")
    return f"NaN exactly at the {int(missing.sum())} NaN coordinates"


def _check_site_order(model: ProcessModel, forcing: Any, seed: int) -> str:
    rng = np.random.default_rng(seed)
    unit = torch.as_tensor(rng.uniform(0.0, 1.0, size=(len(forcing), len(model.parameter_table))))
    params = model.parameter_table.to_physical(unit)
    order = rng.permutation(len(forcing))
    whole = model(params, forcing)[torch.as_tensor(order)]
    parts = model(params[torch.as_tensor(order)], forcing[order])
    if not torch.allclose(whole, parts, rtol=1e-10, atol=0.0, equal_nan=True):
        row = _first_row(~torch.isclose(whole, parts, rtol=1e-10, atol=0.0, equal_nan=True))
        raise _Failed(f"forward(params[idx], forcing[idx]) differs from forward(params, forcing)[idx] "
                      f"for site {int(order[row])}: does forcing[index] keep the order given?")
    return "a shuffled subset gives the shuffled predictions"


def _check_gradients(case: _Case) -> str:
    values, grad, observed = _predict_with_gradient(case, torch.float64)
    bad_value = observed & ~torch.isfinite(values)
    if bool(bad_value.any()):
        row = _first_row(bad_value)
        raise _Failed(f"non-finite prediction {float(values[row][bad_value[row]][0])} at {case.where(row)}")
    bad_grad = ~torch.isfinite(grad)
    if bool(bad_grad.any()):
        row = _first_row(bad_grad)
        name = case.model.parameter_table.names[int(bad_grad[row].nonzero()[0, 0])]
        raise _Failed(f"d(prediction)/d({name}) is {float(grad[row][bad_grad[row]][0])} at {case.where(row)}")
    n = len(case.samples.labels)
    return f"finite at the centre, {n - 1} corner/interior parameter sets x {case.n_sites} sites"


def _check_float32(case: _Case, rtol: float) -> str:
    exact, _, observed = _predict_with_gradient(case, torch.float64)
    single, grad, _ = _predict_with_gradient(case, torch.float32)
    bad_grad = ~torch.isfinite(grad)
    if bool(bad_grad.any()):
        row = _first_row(bad_grad)
        name = case.model.parameter_table.names[int(bad_grad[row].nonzero()[0, 0])]
        raise _Failed(f"float32 d(prediction)/d({name}) is {float(grad[row][bad_grad[row]][0])} at {case.where(row)}")
    error = ((single.double() - exact).abs() / exact.abs().clamp_min(1e-300)).where(observed, torch.zeros_like(exact))
    error = error.nan_to_num(nan=float("inf"))
    worst = float(error.max())
    if worst > rtol:
        row, col = (int(i) for i in (error == error.max()).nonzero()[0])
        raise _Failed(f"relative difference {worst:.3g} > {rtol:g} (float32 {float(single[row, col]):.6g}, "
                      f"float64 {float(exact[row, col]):.6g}) at coordinate {float(case.coords[row % case.n_sites, col]):g}, "
                      f"{case.where(row)}")
    return f"largest relative difference {worst:.2g} (<= {rtol:g}); float32 gradients finite"


def _check_deterministic(case: _Case) -> str:
    params, forcing, coords = case.inputs(torch.float64)
    with torch.no_grad():
        first, second = case.model.predict(params, forcing, coords), case.model.predict(params, forcing, coords)
    if not torch.equal(torch.nan_to_num(first), torch.nan_to_num(second)):
        row = _first_row(torch.nan_to_num(first) != torch.nan_to_num(second))
        raise _Failed(f"two calls differ at {case.where(row)}")
    return "two calls give identical predictions"


def _check_mass_balance(case: _Case, tol: float) -> str:
    params, forcing, _ = case.inputs(torch.float64)
    with torch.no_grad():
        residual = case.model.mass_balance(params, forcing).abs()
    worst = float(residual.nan_to_num(nan=float("inf")).max())
    if worst > tol:
        row = int(residual.nan_to_num(nan=float("inf")).argmax())
        raise _Failed(f"relative imbalance {worst:.3g} > {tol:g} at {case.where(row)}")
    return f"largest relative imbalance {worst:.2g} (<= {tol:g})"


def _check_precompute(model: ProcessModel, forcing: Any, seed: int) -> str:
    """``model(theta, cached[idx])`` equals ``model(theta, forcing[idx])``; a changed fixed column is refused."""
    table = model.parameter_table
    rng = np.random.default_rng(seed)
    params = table.to_physical(torch.as_tensor(rng.uniform(0.1, 0.9, size=(len(forcing), len(table)))))
    varying = list(model.most_influential or table.names[: max(1, len(table) // 2)])
    columns = [table.index(n) for n in varying]
    cached = model.precompute(forcing, params, varying)
    index = rng.permutation(len(forcing))[: max(1, len(forcing) // 2)]
    theta = params[torch.as_tensor(index)].clone()
    theta[:, columns] = table.subset(varying).to_physical(torch.as_tensor(rng.uniform(0, 1, (len(index), len(columns)))))
    with torch.no_grad():
        plain, fast = model(theta, forcing[index]), model(theta, cached[index])
    if not torch.allclose(fast, plain, rtol=1e-8, atol=0.0):
        row = _first_row(~torch.isclose(fast, plain, rtol=1e-8, atol=0.0))
        raise _Failed(f"model(theta, precomputed[idx]) differs from model(theta, forcing[idx]) at site {int(index[row])} "
                      f"with {varying} varying")
    fixed = [i for i in range(len(table)) if i not in columns]
    if fixed:
        moved = theta.clone()
        moved[:, fixed[0]] = table.to_physical(torch.full((len(table),), 0.95, dtype=torch.float64))[fixed[0]]
        try:
            model(moved, cached[index])
        except BinnInputError:
            pass
        else:
            raise _Failed(f"a changed fixed parameter ({table.names[fixed[0]]}) was used with a precomputed "
                          "forcing without an error: its results would silently be those of the old value")
    return f"equal to the plain model with {', '.join(varying)} varying; a changed fixed parameter is refused"


def _run(report: ProcessModelReport, name: str, check: Callable[[], str]) -> bool:
    """Run one check into the report; an unexpected exception is a failure that names it."""
    try:
        report.checks.append(Check(name, True, check()))
        return True
    except _Failed as failure:
        report.checks.append(Check(name, False, str(failure)))
    except Exception as error:  # noqa: BLE001 - a crash inside the user's model is a finding
        report.checks.append(Check(name, False, f"raised {type(error).__name__}: {error}"))
    return False


def check_process_model(model: ProcessModel, forcing: Any, coords: Any, *, max_sites: int = 32,
                        n_corners: int = 16, n_interior: int = 16, rtol: float = 1e-3,
                        mass_tol: float = 1e-6, seed: int = 0) -> ProcessModelReport:
    """Run ``model`` through the plug-in contract and report what passes (see the module docstring).

    Parameters
    ----------
    model : the process model to check (an instance).
    forcing : its forcing for some sites; ``coords`` : NaN-padded observation coordinates
        ``[n_sites, n_obs]`` for the same sites (e.g. ``dataset.forcing`` and ``dataset.coords``).
    max_sites : the first this many sites are used (the checks evaluate every parameter set on each).
    n_corners, n_interior : random corners and interior points of the unit parameter cube, besides
        the centre, drawn with ``seed``.
    rtol : tolerated relative float32 vs float64 difference of the observed predictions.
    mass_tol : tolerated ``|mass_balance|`` when the model defines it.

    Returns
    -------
    ProcessModelReport -- ``print`` it; ``report.passed``; ``report.raise_if_failed()``.
    """
    report = ProcessModelReport(type(model).__name__)
    coords = torch.as_tensor(coords, dtype=torch.float64)
    if coords.ndim != 2:
        raise BinnInputError(f"coords must have shape [n_sites, n_obs]; got {tuple(coords.shape)}")
    if not _run(report, "parameter table", lambda: _check_table(model)):
        return report
    if not _run(report, "forcing protocol", lambda: _check_forcing(forcing, coords.shape[0])):
        return report
    n_sites = min(max_sites, coords.shape[0])
    forcing, coords = forcing[slice(0, n_sites)].to(dtype=torch.float64), coords[:n_sites]
    if not _run(report, "shapes", lambda: _check_shapes(model, forcing, coords)):
        return report
    samples = _samples(model.parameter_table, n_corners, n_interior, seed)
    case = _Case(model, forcing, coords, samples, n_sites)
    _run(report, "NaN coordinates", lambda: _check_nan_coords(model, forcing, coords))
    _run(report, "site order", lambda: _check_site_order(model, forcing, seed))
    _run(report, "finite gradients", lambda: _check_gradients(case))
    _run(report, "float32", lambda: _check_float32(case, rtol))
    _run(report, "deterministic", lambda: _check_deterministic(case))
    if callable(getattr(model, "mass_balance", None)):
        _run(report, "mass balance", lambda: _check_mass_balance(case, mass_tol))
    if callable(getattr(model, "precompute", None)):
        _run(report, "precompute", lambda: _check_precompute(model, forcing, seed))
    return report
