"""Parameter tables: names, physical ranges and units of a process model's parameters.

A neural-network head produces *unit* parameters ``u`` in [0, 1]; a process model works with
*physical* parameters ``x``. The two are related linearly (Xu et al. 2025, BINN):

    x = low + u (high - low)

A :class:`ParameterTable` holds that mapping for every parameter of a model, so no code has to
address a column by a magic index: ``table.as_dict(x)["tau_s3"]`` gives the named column.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import pandas as pd
import torch

__all__ = ["Parameter", "ParameterTable"]


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
        if not self.high > self.low:
            raise ValueError(f"parameter {self.name!r}: high ({self.high}) must exceed low ({self.low})")
        if not self.low <= self.default <= self.high:
            raise ValueError(
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
            raise ValueError(f"duplicate parameter names in {names}")
        if not params:
            raise ValueError("a parameter table needs at least one parameter")
        self._params = params
        self._index = {p.name: i for i, p in enumerate(params)}

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
            raise ValueError(
                f"parameter tensor has {x.shape[-1]} columns, the table has {len(self)} ({', '.join(self.names)})"
            )
        return self.low.to(x), self.high.to(x)

    def to_physical(self, unit: torch.Tensor) -> torch.Tensor:
        """Map unit values ``u`` in [0, 1] to physical values ``low + u (high - low)``."""
        low, high = self._bounds_like(unit)
        return low + unit * (high - low)

    def to_unit(self, physical: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_physical`: ``(x - low) / (high - low)``."""
        low, high = self._bounds_like(physical)
        return (physical - low) / (high - low)

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
