"""The monthly climatology that drives the CLM5 soil-carbon model at each site.

All fields are batch-first tensors (site first); names and units follow the CLM5 Technical Note
(Lawrence et al. 2018, the chapter on decomposition of soil organic matter):

================  ==============  ===========================================================
field             shape           unit / meaning
================  ==============  ===========================================================
litter_input      [batch, 12, 4]  gC m-2 per month entering CWD, litter 1, litter 2, litter 3
soil_temperature  [batch, 12, 20] K, per month and soil layer
water_scalar      [batch, 12, 20] CLM5 soil-water scalar w in [0, 1]
oxygen_scalar     [batch, 12, 20] oxygen scalar in [0, 1]
nitrogen_scalar   [batch, 12, 20] fraction of potential N immobilisation in [0, 1]
altmax            [batch, 12]     m, this year's maximum active-layer depth (0: no active layer)
altmax_lastyear   [batch, 12]     m, last year's maximum active-layer depth
bedrock           [batch]         number of soil layers above bedrock, integer 1..20
================  ==============  ===========================================================

A :class:`Forcing` checks every field when it is built and raises a ``ValueError`` that names the
field, the problem and the first offending site, so a wrong unit never turns into a NaN loss.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Sequence

import numpy as np
import torch

from .errors import BinnInputError
from .process import site_index

__all__ = ["Forcing", "FORCING_FIELDS", "LITTER_INPUT_POOLS"]

N_MONTHS = 12
N_LAYERS = 20
LITTER_INPUT_POOLS = ("cwd", "litter1", "litter2", "litter3")

#: field name -> (shape after the batch dimension, unit/meaning)
FORCING_FIELDS: dict[str, tuple[tuple[int, ...], str]] = {
    "litter_input": ((N_MONTHS, 4), "gC m-2 per month for CWD, litter 1, litter 2, litter 3"),
    "soil_temperature": ((N_MONTHS, N_LAYERS), "K"),
    "water_scalar": ((N_MONTHS, N_LAYERS), "[0, 1]"),
    "oxygen_scalar": ((N_MONTHS, N_LAYERS), "[0, 1]"),
    "nitrogen_scalar": ((N_MONTHS, N_LAYERS), "[0, 1]"),
    "altmax": ((N_MONTHS,), "m"),
    "altmax_lastyear": ((N_MONTHS,), "m"),
    "bedrock": ((), "layers above bedrock, 1..20"),
}
_UNIT_INTERVAL = ("water_scalar", "oxygen_scalar", "nitrogen_scalar")
_TEMPERATURE_RANGE_K = (150.0, 350.0)


def _numeric_tensor(value: Any, name: str) -> torch.Tensor:
    """``value`` as a tensor, or a BinnInputError naming the field when it is not numbers."""
    array = np.asarray(value)
    if array.dtype.kind not in "iufb":
        raise BinnInputError(f"forcing field '{name}' must be numeric; got {array.dtype} values "
                             f"({type(value).__name__})")
    return torch.from_numpy(np.ascontiguousarray(array))


def _first_bad_site(bad: torch.Tensor) -> int:
    """Index of the first site (dim 0) where ``bad`` is true anywhere."""
    return int(bad.reshape(bad.shape[0], -1).any(dim=1).nonzero()[0, 0])


@dataclass
class Forcing:
    """Monthly forcing of the CLM5 soil-carbon model for a batch of sites (see module docstring)."""

    litter_input: torch.Tensor
    soil_temperature: torch.Tensor
    water_scalar: torch.Tensor
    oxygen_scalar: torch.Tensor
    nitrogen_scalar: torch.Tensor
    altmax: torch.Tensor
    altmax_lastyear: torch.Tensor
    bedrock: torch.Tensor

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, torch.Tensor):
                value = _numeric_tensor(value, f.name)
            if f.name == "bedrock":
                value = self._as_layer_count(value)
            elif not value.is_floating_point():
                value = value.to(torch.get_default_dtype())
            object.__setattr__(self, f.name, value)
        self.validate()

    # -- checks ---------------------------------------------------------------------------------
    @staticmethod
    def _as_layer_count(value: torch.Tensor) -> torch.Tensor:
        if value.is_floating_point():
            finite = torch.isfinite(value)
            if not bool(finite.all()):
                site = int((~finite).nonzero()[0, 0]) if value.ndim else 0
                raise BinnInputError(f"forcing field 'bedrock': non-finite value at site {site}")
            if not bool((value == value.round()).all()):
                site = int((value != value.round()).nonzero()[0, 0]) if value.ndim else 0
                raise BinnInputError(
                    f"forcing field 'bedrock' must be an integer number of soil layers; "
                    f"site {site} has {float(value.reshape(-1)[site])}"
                )
        return value.to(torch.long)

    def validate(self) -> None:
        """Check shapes, finiteness and physical ranges; raise ``BinnInputError`` naming the field."""
        batch = self.bedrock.shape[0] if self.bedrock.ndim == 1 else None
        if batch is None:
            raise BinnInputError(
                f"forcing field 'bedrock' must have shape [batch]; got {tuple(self.bedrock.shape)}"
            )
        sites = {name: int(getattr(self, name).shape[0]) if getattr(self, name).ndim else 0 for name in FORCING_FIELDS}
        if len(set(sites.values())) > 1:
            counts = ", ".join(f"'{name}' {n}" for name, n in sites.items())
            raise BinnInputError(f"forcing fields disagree on the number of sites (first dimension): {counts}")
        for name, (shape, unit) in FORCING_FIELDS.items():
            value = getattr(self, name)
            if tuple(value.shape) != (batch, *shape):
                raise BinnInputError(
                    f"forcing field '{name}' must have shape [batch, {', '.join(map(str, shape))}] "
                    f"= {(batch, *shape)} ({unit}); got {tuple(value.shape)}".replace(", ]", "]")
                )
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                site = _first_bad_site(~torch.isfinite(value))
                raise BinnInputError(f"forcing field '{name}': non-finite value (NaN or inf) at site {site}")
        self._check_range("litter_input", self.litter_input < 0, "negative litter input (gC m-2 per month)")
        t = self.soil_temperature
        low, high = _TEMPERATURE_RANGE_K
        bad = (t < low) | (t > high)
        if bool(bad.any()):
            site = _first_bad_site(bad)
            hint = " — it looks like degrees Celsius; add 273.15" if float(t[site].max()) < 100 else ""
            raise BinnInputError(
                f"forcing field 'soil_temperature' must be in kelvin ({low:g}-{high:g} K); site {site} "
                f"has values from {float(t[site].min()):.2f} to {float(t[site].max()):.2f}{hint}"
            )
        for name in _UNIT_INTERVAL:
            value = getattr(self, name)
            self._check_range(name, (value < 0) | (value > 1), "value outside [0, 1]")
        for name in ("altmax", "altmax_lastyear"):
            self._check_range(name, getattr(self, name) < 0, "negative active-layer depth (m)")
        self._check_range("bedrock", (self.bedrock < 1) | (self.bedrock > N_LAYERS),
                          f"number of layers above bedrock outside 1..{N_LAYERS}")

    def _check_range(self, name: str, bad: torch.Tensor, problem: str) -> None:
        if bool(bad.any()):
            site = _first_bad_site(bad if bad.ndim > 1 else bad.unsqueeze(1))
            value = getattr(self, name)[site][bad[site]].reshape(-1)[0]
            raise BinnInputError(f"forcing field '{name}': {problem} at site {site} (value {float(value):g})")

    # -- container behaviour ------------------------------------------------------------------
    @classmethod
    def _trusted(cls, **values: torch.Tensor) -> "Forcing":
        """Build without re-validation (for subsets and conversions of a valid forcing)."""
        obj = cls.__new__(cls)
        for name, value in values.items():
            object.__setattr__(obj, name, value)
        return obj

    def __len__(self) -> int:
        return int(self.bedrock.shape[0])

    def __getitem__(self, index: Any) -> "Forcing":
        """Sites ``index`` (int, slice, list, index array or boolean mask) as a new Forcing."""
        index = site_index(index, self.bedrock.device)
        return Forcing._trusted(**{name: getattr(self, name)[index] for name in FORCING_FIELDS})

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "Forcing":
        """Move to ``device`` and cast the floating-point fields to ``dtype`` (bedrock stays integer)."""
        if isinstance(device, torch.dtype):  # forcing.to(torch.float32), as with a tensor
            device, dtype = None, device
        values = {}
        for name in FORCING_FIELDS:
            value = getattr(self, name)
            cast = dtype if (dtype is not None and value.is_floating_point()) else None
            values[name] = value.to(device=device, dtype=cast)
        return Forcing._trusted(**values)

    @property
    def dtype(self) -> torch.dtype:
        return self.soil_temperature.dtype

    @property
    def device(self) -> torch.device:
        return self.soil_temperature.device

    @classmethod
    def concat(cls, parts: Sequence["Forcing"]) -> "Forcing":
        """Join the sites of several forcings."""
        return cls._trusted(**{n: torch.cat([getattr(p, n) for p in parts]) for n in FORCING_FIELDS})

    @classmethod
    def from_numpy(cls, **arrays: Any) -> "Forcing":
        """Build (and validate) from NumPy arrays; floating fields become float64 tensors."""
        unknown = sorted(set(arrays) - set(FORCING_FIELDS))
        missing = sorted(set(FORCING_FIELDS) - set(arrays))
        if unknown or missing:
            raise BinnInputError(
                "forcing fields do not match: "
                + (f"missing {', '.join(missing)}" if missing else "")
                + ("; " if unknown and missing else "")
                + (f"unknown {', '.join(unknown)}" if unknown else "")
                + f" (expected: {', '.join(FORCING_FIELDS)})"
            )
        values = {}
        for name, value in arrays.items():
            values[name] = _numeric_tensor(value, name)
            if name != "bedrock":
                values[name] = values[name].to(torch.float64)
        return cls(**values)

    def to_numpy(self) -> dict[str, np.ndarray]:
        """The fields as NumPy arrays (for saving with ``numpy.savez``)."""
        return {name: getattr(self, name).detach().cpu().numpy() for name in FORCING_FIELDS}

    def __repr__(self) -> str:
        return f"Forcing({len(self)} sites, {self.dtype}, {self.device})"
