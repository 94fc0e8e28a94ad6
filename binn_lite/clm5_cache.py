"""CLM5 training with a few learned parameters: compute once what the fixed parameters determine.

When a BINN learns a few of the 21 parameters (e.g. the four most influential: ``efolding``,
``tau_s3``, ``fs1s3``, ``w_scaling``), most of the steady-state system ``(V - A xi K) X = B I``
is the same at every training step: it depends only on the forcing and the fixed parameters.
:meth:`binn_lite.clm5.CLM5.precompute` computes those parts once per site and returns a
:class:`CLM5Cache`, which stands in for the forcing (contract section 6, :mod:`binn_lite.process`):

==================================  ============================  ===================================
part (per site)                     depends on                    kept when
==================================  ============================  ===================================
bands of ``V`` [3, 20] (day-1)      ``bio``, ``cryo``, forcing    both are fixed
``B I`` [20, 7] (gC m-3 day-1)      ``beta``, forcing             ``beta`` is fixed
monthly ``xi_O (1, xi_N)`` [2,12,20]  forcing; ``xi_T``: ``q10``;  always, with ``xi_T`` / ``xi_W``
  times ``xi_T``, ``xi_W``            ``xi_W``: ``w_scaling``       multiplied in when fixed; only its
                                                                  12-month means [2, 20] when both are
==================================  ============================  ===================================

The base turnover ``K``, the depth scalar and the transfer matrix ``A`` are recomputed at every
call: they cost little. Results and gradients equal those of the forcing itself (to rounding);
the cache refuses parameters whose fixed columns differ from the ones it was built with.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .clm5 import (CLM5_PARAMETERS, SYSTEM_DTYPE, Forcing, SystemParts, _environment_means, _oxygen_nitrogen,
                   _pool_rates, _temperature_scalar, _transport_bands, _water_scalar, input_allocation,
                   transfer_matrix)
from .errors import BinnInputError
from .process import site_index

__all__ = ["CLM5Cache"]

#: the parameters each cached part depends on (besides the forcing)
_TRANSPORT = ("bio", "cryo")
_INPUTS = ("beta",)
_MONTHLY = (("q10", _temperature_scalar), ("w_scaling", _water_scalar))


def _water_sums(monthly: torch.Tensor, water: torch.Tensor) -> dict[str, torch.Tensor]:
    """Month sums that make the 12-month means cheap when only ``w_scaling`` (``s``) varies.

    With ``c_m`` = ``monthly`` [n, 2, 12, 20] (everything but ``xi_W``) and the water scalar ``w_m``,
    ``mean_m c_m min(1, w_m s) = (s sum_{w_m <= 1/s} c_m w_m + sum_{w_m > 1/s} c_m) / 12``: with the
    months sorted by ``w`` in each layer, the first sum is over the first months, the second over
    the rest. Returns the sorted ``w`` [n, 20, 12] and, for every count k = 0..12 of unsaturated
    months, ``water_sums`` [n, 20, 13, 4]: the sums of ``c w`` over the first k months and of ``c``
    over the others (each for the plain and the nitrogen-limited product).
    """
    water_sorted, order = torch.sort(water.transpose(1, 2), dim=2)  # [n, 20, 12]
    c = monthly.permute(0, 3, 1, 2).gather(3, order[:, :, None].expand(-1, -1, 2, -1))  # [n, 20, 2, 12]
    zero = torch.zeros_like(c[..., :1])
    first = torch.cat([zero, torch.cumsum(c * water_sorted[:, :, None], dim=3)], dim=3)  # [n, 20, 2, 13]
    rest = torch.cat([torch.cumsum(c.flip(3), dim=3).flip(3), zero], dim=3)
    return {"water_sorted": water_sorted.contiguous(), "water_sums": torch.cat([first, rest], dim=2).transpose(2, 3).contiguous()}


def _water_means(water_sorted: torch.Tensor, sums: torch.Tensor, w_scaling: torch.Tensor,
                 rows: torch.Tensor | None = None) -> torch.Tensor:
    """12-month means [batch, 2, 20] at ``w_scaling`` [batch] from :func:`_water_sums`.

    ``water_sorted`` [batch, 20, 12]; ``sums``: the ``water_sums`` [n, 20, 13, 4] of these sites,
    or of more sites when ``rows`` [batch] gives the position of each of these in ``sums``.
    """
    batch, n_layers = water_sorted.shape[:2]
    n_counts = sums.shape[2]
    limit = (1.0 / w_scaling).detach()[:, None, None].expand(-1, n_layers, 1).contiguous()
    unsaturated = torch.searchsorted(water_sorted, limit, right=True)[..., 0]  # [batch, 20]: months with w <= 1/s
    if rows is None:
        rows = torch.arange(batch, device=sums.device)
    layers = rows[:, None] * n_layers + torch.arange(n_layers, device=sums.device)  # [batch, 20] in sums' [n * 20]
    picked = sums.reshape(-1, 4).index_select(0, (layers * n_counts + unsaturated).reshape(-1)).view(batch, n_layers, 4)
    means = (w_scaling[:, None, None] * picked[..., :2] + picked[..., 2:]) / 12.0  # [batch, 20, 2]
    return means.transpose(1, 2)


class CLM5Cache:
    """Precomputed parts of the CLM5 system for a set of sites; follows the forcing protocol.

    Build it with :meth:`binn_lite.clm5.CLM5.precompute` (or :meth:`build`). ``len(cache)``,
    ``cache[index]`` (every index kind of :func:`~binn_lite.process.site_index`) and
    ``cache.to(device)`` work as for a :class:`~binn_lite.clm5.Forcing`; the cached parts stay
    float64 (``SYSTEM_DTYPE``) whatever ``dtype`` is asked for, since the system is solved in
    float64 anyway. Build the cache from the forcing in the dtype you train with, so that both
    paths see the same (rounded) forcing.

    Attributes
    ----------
    forcing : the :class:`~binn_lite.clm5.Forcing` of the sites (float64); a cache of a subset of
        sites (``cache[index]``) takes it from its parent's forcing when it is first read.
    params : float64 [n_sites, 21], the parameters it was built with (the fixed columns matter).
    varying : names of the parameters that may change between calls.
    """

    def __init__(self, forcing: Forcing, params: torch.Tensor, varying: tuple[str, ...],
                 parts: dict[str, torch.Tensor], folded: tuple[str, ...], forcing_index: torch.Tensor | None = None,
                 sums_rows: torch.Tensor | None = None):
        # ``forcing[forcing_index]`` is taken when first asked for: a training minibatch
        # (``cache[index]``) whose parts are all cached never needs its forcing
        self._forcing, self._forcing_index = forcing, forcing_index
        self.params, self.varying = params, varying
        self.parts, self.folded = parts, folded
        # a subset keeps its parent's month sums (13 counts per layer, of which a call reads one)
        # with the positions of its sites in them; None: its own, sites in order
        self._sums_rows = sums_rows
        self.fixed_columns = torch.tensor([i for i, name in enumerate(CLM5_PARAMETERS.names) if name not in varying],
                                          dtype=torch.long, device=params.device)

    @classmethod
    def build(cls, forcing: Forcing, params: torch.Tensor, varying: Sequence[str]) -> "CLM5Cache":
        """Cache for ``forcing`` (float64) and physical ``params`` [n_sites, 21] (checked, float64)."""
        if isinstance(varying, str):
            varying = (varying,)
        unknown = [name for name in varying if name not in CLM5_PARAMETERS.names]
        if unknown:
            raise BinnInputError(f"varying: unknown CLM5 parameter(s) {', '.join(map(repr, unknown))}; "
                                 f"known: {', '.join(CLM5_PARAMETERS.names)}")
        varying = tuple(name for name in CLM5_PARAMETERS.names if name in varying)
        fixed = lambda names: not any(name in varying for name in names)  # noqa: E731
        params = params.detach()
        parts: dict[str, torch.Tensor] = {}
        if fixed(_TRANSPORT):
            parts["transport"] = torch.stack(_transport_bands(params, forcing), dim=1)  # [n, 3, 20]
        if fixed(_INPUTS):
            parts["inputs"] = input_allocation(params, forcing).transpose(1, 2)  # [n, 20, 7]
        monthly = _oxygen_nitrogen(forcing)
        folded = tuple(name for name, _ in _MONTHLY if fixed((name,)))
        for name, scalar in _MONTHLY:
            if name in folded:
                monthly = monthly * scalar(params, forcing)[:, None]
        if len(folded) == len(_MONTHLY):
            parts["environment"] = monthly.mean(dim=2)  # [n, 2, 20]
        elif folded == ("q10",):
            parts.update(_water_sums(monthly, forcing.water_scalar))
        else:
            parts["monthly"] = monthly  # [n, 2, 12, 20]
        return cls(forcing, params, varying, parts, folded)

    @property
    def forcing(self) -> Forcing:
        """The :class:`~binn_lite.clm5.Forcing` of the cached sites."""
        if self._forcing_index is not None:
            self._forcing, self._forcing_index = self._forcing[self._forcing_index], None
        return self._forcing

    # -- the forcing protocol ------------------------------------------------------------------
    def __len__(self) -> int:
        return self.params.shape[0]

    def __getitem__(self, index: Any) -> "CLM5Cache":
        """The cache of sites ``index`` (int, slice, list, index array or boolean mask)."""
        index = site_index(index, self.params.device)
        parts = {name: value if name == "water_sums" else value[index] for name, value in self.parts.items()}
        positions = torch.arange(len(self), device=self.params.device)
        within = positions[index]  # positions in this cache's forcing
        if self._forcing_index is not None:
            within = self._forcing_index[within]  # ... in the forcing it was built from
        sums_rows = None
        if "water_sums" in parts:
            sums_rows = (positions if self._sums_rows is None else self._sums_rows)[index]
        return CLM5Cache(self._forcing, self.params[index], self.varying, parts, self.folded, forcing_index=within,
                         sums_rows=sums_rows)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "CLM5Cache":
        """On ``device``; ``dtype`` is accepted for the protocol and ignored (everything stays float64)."""
        if isinstance(device, torch.dtype):  # cache.to(torch.float32), as with a Forcing
            device = None
        if device is None or torch.device(device) == self.params.device:
            return self
        parts = {name: value.to(device) for name, value in self._own_parts().items()}
        return CLM5Cache(self.forcing.to(device=device), self.params.to(device), self.varying, parts, self.folded)

    def _own_parts(self) -> dict[str, torch.Tensor]:
        """The parts with only this cache's rows of the month sums (what travels or is saved)."""
        parts = dict(self.parts)
        if self._sums_rows is not None:
            parts["water_sums"] = parts["water_sums"][self._sums_rows]
        return parts

    def __getstate__(self) -> dict:
        """Pickled or deep-copied with its own sites' forcing and month sums, not its parent's."""
        return {**self.__dict__, "_forcing": self.forcing, "_forcing_index": None, "parts": self._own_parts(),
                "_sums_rows": None}

    @property
    def device(self) -> torch.device:
        return self.params.device

    @property
    def dtype(self) -> torch.dtype:
        return SYSTEM_DTYPE

    def __repr__(self) -> str:
        return f"CLM5Cache({len(self)} sites, varying=({', '.join(self.varying)}), {self.device})"

    # -- use -----------------------------------------------------------------------------------
    def check(self, params: torch.Tensor) -> None:
        """Raise :class:`~binn_lite.errors.BinnInputError` unless ``params`` [n_sites, 21] are for as
        many sites as the cache and their fixed columns equal the ones it was built with."""
        if params.shape[0] != len(self):
            raise BinnInputError(
                f"parameters are for {params.shape[0]} sites but the CLM5 cache holds {len(self)}: "
                "index the cache with the sites of the parameters, cache[index], as you would the forcing"
            )
        given = params.detach()[:, self.fixed_columns].to(SYSTEM_DTYPE)
        built = self.params[:, self.fixed_columns]
        differs = given != built
        if bool(differs.any()):
            site, column = (int(i) for i in differs.nonzero()[0])
            name = CLM5_PARAMETERS.names[int(self.fixed_columns[column])]
            raise BinnInputError(
                f"the CLM5 cache was built with {name!r} = {float(built[site, column]):.10g} fixed, but site {site} "
                f"now has {float(given[site, column]):.10g}; build a new cache with model.precompute(forcing, "
                f"params, varying) that lists {name!r} among the varying parameters "
                f"(now: {', '.join(self.varying) or 'none'})"
            )

    def system_parts(self, params: torch.Tensor) -> SystemParts:
        """The :class:`~binn_lite.clm5.SystemParts` at ``params`` (float64, checked with :meth:`check`).

        Only the parts the cache does not hold read :attr:`forcing` (then taken for these sites)."""
        parts = self.parts
        if "transport" in parts:
            transport = tuple(parts["transport"].unbind(dim=1))
        else:
            transport = _transport_bands(params, self.forcing)
        if "inputs" in parts:
            inputs = parts["inputs"]
        else:
            inputs = input_allocation(params, self.forcing).transpose(1, 2)
        if "environment" in parts:
            environment = parts["environment"]
        elif "water_sums" in parts:
            environment = _water_means(parts["water_sorted"], parts["water_sums"],
                                       params[:, CLM5_PARAMETERS.index("w_scaling")], self._sums_rows)
        else:
            environment = _environment_means(params, self.forcing, parts["monthly"], self.folded)
        return SystemParts(transport, _pool_rates(params, environment), transfer_matrix(params), inputs)
