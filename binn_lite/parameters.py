"""Parameter tables: names, physical ranges and units of a process model's parameters.

A neural-network head produces *unit* parameters ``u`` in [0, 1]; a process model works with
*physical* parameters ``x``. The two are related linearly (Xu et al. 2025, BINN):

    x = low + u (high - low)

A :class:`ParameterTable` holds that mapping for every parameter of a model, so no code has to
address a column by a magic index: ``table.as_dict(x)["tau_s3"]`` gives the named column.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import pandas as pd
import torch

from .errors import BinnInputError

__all__ = ["Parameter", "ParameterTable", "RANGE_TOLERANCE"]

#: slack at either end of a range, relative to its width: float32 rounding of ``low + u (high - low)``
#: can step a few ulps past ``high``; nothing else may.
RANGE_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Parameter:
    """One process-model parameter.

    Attributes
    ----------
    name : short identifier used everywhere (``"tau_s3"``).
    low, high : physical range; a unit value of 0 maps to ``low`` and 1 to ``high``.
    unit : physical unit as text (``"yr"``, ``"m2 yr-1"``, ``"-"``).
    meaning : one-line description.
    default : physical value used when the parameter is not learned.
    """

    name: str
    low: float
    high: float
    unit: str
    meaning: str
    default: float

    def __post_init__(self) -> None:
        if not all(math.isfinite(float(v)) for v in (self.low, self.high, self.default)):
            raise BinnInputError(f"parameter {self.name!r}: low, high and default must be finite numbers; "
                                 f"got {self.low}, {self.high}, {self.default}")
        if not self.high > self.low:
            raise BinnInputError(f"parameter {self.name!r}: high ({self.high}) must exceed low ({self.low})")
        if not self.low <= self.default <= self.high:
            raise BinnInputError(
                f"parameter {self.name!r}: default {self.default} outside [{self.low}, {self.high}]"
            )


class ParameterTable:
    """An ordered collection of :class:`Parameter` with the unit <-> physical mapping.

    The column order of every parameter tensor ``[..., n]`` follows ``table.names``.
    """

    def __init__(self, params: Sequence[Parameter]):
        params = tuple(params)
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise BinnInputError(f"duplicate parameter names in {names}")
        if not params:
            raise BinnInputError("a parameter table needs at least one parameter")
        self._params = params
        self._index = {p.name: i for i, p in enumerate(params)}
        self._clear_caches()

    def _clear_caches(self) -> None:
        """Bound tensors made on first use, per dtype and device (see :meth:`_bounds_like`)."""
        self._bounds: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._limits: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)  # the cached tensors stay behind: they may live on another device
        state.pop("_bounds"), state.pop("_limits")
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._clear_caches()

    # -- container protocol -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._params)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._params)

    def __getitem__(self, name: str) -> Parameter:
        return self._params[self.index(name)]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __repr__(self) -> str:
        return f"ParameterTable({', '.join(self.names)})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self._params)

    def index(self, name: str) -> int:
        """Column of parameter ``name`` in a parameter tensor."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"unknown parameter {name!r}; known: {', '.join(self.names)}") from None

    def subset(self, names: Iterable[str]) -> "ParameterTable":
        """A table with only ``names``, in the given order."""
        return ParameterTable([self[n] for n in names])

    # -- numbers --------------------------------------------------------------------------------
    @property
    def low(self) -> torch.Tensor:
        return torch.tensor([p.low for p in self._params], dtype=torch.float64)

    @property
    def high(self) -> torch.Tensor:
        return torch.tensor([p.high for p in self._params], dtype=torch.float64)

    @property
    def default(self) -> torch.Tensor:
        return torch.tensor([p.default for p in self._params], dtype=torch.float64)

    def _bounds_like(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-1] != len(self):
            raise BinnInputError(
                f"parameter tensor has {x.shape[-1]} columns, the table has {len(self)} ({', '.join(self.names)})"
            )
        bounds = self._bounds.get((x.dtype, x.device))
        if bounds is None:  # made once per dtype and device (the table never changes); callers only read them
            bounds = self._bounds[(x.dtype, x.device)] = (self.low.to(x), self.high.to(x))
        return bounds

    def to_physical(self, unit: torch.Tensor) -> torch.Tensor:
        """Map unit values ``u`` in [0, 1] to physical values ``low + u (high - low)``.

        Raises :class:`~binn_lite.errors.BinnInputError` naming parameter, site and value when a
        unit value is not finite or lies outside [0, 1]: extrapolating past a range is never silent.
        """
        low, high = self._bounds_like(unit)
        self._check_within(unit.detach(), unit=True)
        return low + unit * (high - low)

    def to_unit(self, physical: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_physical`: ``(x - low) / (high - low)`` (no range check)."""
        low, high = self._bounds_like(physical)
        return (physical - low) / (high - low)

    def check_physical(self, physical: torch.Tensor) -> None:
        """Raise :class:`~binn_lite.errors.BinnInputError` unless every value ``[..., n]`` is finite
        and inside its parameter's range (to ``RANGE_TOLERANCE``), naming parameter, site and value.

        When every value of the batch lies in [0, 1] the message says they look like unit values.
        """
        self._bounds_like(physical)  # a wrong width is refused before the range check below
        values = physical.detach()
        try:
            self._check_within(values, unit=False)
        except BinnInputError as error:
            looks_unit = bool(((values >= 0) & (values <= 1)).all())
            if not looks_unit:
                raise
            raise BinnInputError(f"{error}. Every value lies in [0, 1]: are these unit values? Map them to "
                                 "physical values with parameter_table.to_physical(u)") from None

    def _limits_like(self, x: torch.Tensor, unit: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The lowest and highest accepted value of each column, the range ([0, 1] for unit values)
        widened by ``RANGE_TOLERANCE`` of its width; made once per dtype, device and tolerance.
        Limits beyond the dtype's largest finite number are clamped to it, so infinities stay out."""
        low, high = self._bounds_like(x)  # also checks the number of columns
        key = (x.dtype, x.device, unit, RANGE_TOLERANCE)
        limits = self._limits.get(key)
        if limits is None:
            if unit:
                low, high = torch.zeros_like(low), torch.ones_like(high)
            slack = RANGE_TOLERANCE * (high - low)
            lowest, highest = low - slack, high + slack
            if x.is_floating_point():
                biggest = torch.finfo(x.dtype).max
                lowest, highest = lowest.clamp(min=-biggest), highest.clamp(max=biggest)
            limits = self._limits[key] = (lowest, highest)
        return limits

    def _check_within(self, values: torch.Tensor, unit: bool) -> None:
        """The range check behind :meth:`to_physical` (``unit``: values in [0, 1]) and
        :meth:`check_physical` (physical values). The limits are finite: NaN fails both comparisons,
        +inf the upper, -inf the lower."""
        lowest, highest = self._limits_like(values, unit)
        bad = ~((values >= lowest) & (values <= highest))
        if not bool(bad.any()):
            return
        flat = bad.reshape(-1, len(self))
        site, column = (int(i) for i in flat.nonzero()[0])
        p = self._params[column]
        value = float(values.reshape(-1, len(self))[site, column])
        where = f"site {site}" if values.ndim > 1 else "the single set"
        what, span = ("unit value", "[0, 1]") if unit else (
            "value", f"[{p.low:g}, {p.high:g}]" + ("" if p.unit == "-" else f" {p.unit}"))
        raise BinnInputError(f"{what} of {p.name!r} must be finite and in {span}; {where} has {value:g}")

    def defaults_like(self, batch: int, dtype: torch.dtype = torch.float64,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """Physical default values repeated for ``batch`` sites: ``[batch, n]``."""
        return self.default.to(dtype=dtype, device=device).expand(batch, -1).clone()

    def as_dict(self, values: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split ``values[..., n]`` into named columns ``{name: values[..., i]}``."""
        self._bounds_like(values)
        return dict(zip(self.names, values.unbind(-1)))

    def stack(self, columns: dict[str, torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`as_dict`: stack named columns into ``[..., n]`` in table order."""
        missing = [n for n in self.names if n not in columns]
        if missing:
            raise KeyError(f"missing parameters: {', '.join(missing)}")
        return torch.stack([torch.as_tensor(columns[n]) for n in self.names], dim=-1)

    def frame(self) -> pd.DataFrame:
        """The table as a DataFrame (index: name; columns: low, high, default, unit, meaning)."""
        return pd.DataFrame(
            [
                {"name": p.name, "low": p.low, "high": p.high, "default": p.default,
                 "unit": p.unit, "meaning": p.meaning}
                for p in self._params
            ]
        ).set_index("name")
