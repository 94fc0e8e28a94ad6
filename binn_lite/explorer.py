"""The parameter explorer: sliders for a few CLM5 parameters over one site's steady-state SOC profile.

Tutorial 01 (``tutorials/01_matrix_model.ipynb``, section 10) shows it; the model's pieces are
drawn by :mod:`binn_lite.explore`. :class:`ParameterExplorer` computes and draws the picture for
given parameter values, without any widget; :meth:`ParameterExplorer.widget` and
:func:`parameter_explorer` put ``ipywidgets`` sliders (7.7 or 8) above it.

The picture is the one exception to the figure convention of :mod:`binn_lite.plots`: it is drawn
outside pyplot and shown as PNG bytes (:func:`figure_png`), so that every slider move redraws
it in place and the same values always give the same bytes.
"""
from __future__ import annotations

import io
import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from .errors import BinnInputError
from .clm5 import CLM5, CLM5_PARAMETERS, DZ, MOST_INFLUENTIAL, ZSOI, Forcing

__all__ = ["EXPLORER_PARAMETERS", "ParameterExplorer", "parameter_explorer", "figure_png"]

#: sliders of the explorer by default: the four most influential parameters, Q10 and beta
EXPLORER_PARAMETERS = (*MOST_INFLUENTIAL, "q10", "beta")


def _nice_step(span: float, n: int = 50) -> float:
    """A 1-2-5 step close to ``span / n``."""
    raw = span / n
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if raw <= m * power * 1.0001:
            return m * power
    return 10.0 * power  # pragma: no cover


class ParameterExplorer:
    """SOC profile of one site as a function of a few parameters (what the slider widget draws).

    Parameters
    ----------
    forcing : the forcing of ONE site (``len(forcing) == 1``).
    observations : optional DataFrame with columns ``depth_m`` (m) and ``soc_gC_m3`` (gC m-3) of that
        site, drawn as dots.
    params : names of the parameters that get a slider (default :data:`EXPLORER_PARAMETERS`).
    base : physical values of all 21 parameters ([21] tensor/array, or a mapping name -> value);
        default the middle of every range. The sliders start at these values, snapped to the slider
        grid (so that moving a slider back and forth returns exactly to the start).
    max_depth : deepest depth shown (m); default 2 m or 0.2 m below the deepest observation.

    The axes are fixed when the explorer is made (linear SOC axis from 0 to 2.5 times the largest
    value of the starting profile and the observations above ``max_depth``), so a picture changes
    only where the curve moves; a curve beyond the axis is marked "off the chart". :meth:`figure`
    and :meth:`png` draw for given values without any widget.
    """

    def __init__(self, forcing: Forcing, observations: pd.DataFrame | None = None,
                 params: Sequence[str] = EXPLORER_PARAMETERS, base=None, max_depth: float | None = None,
                 model: CLM5 | None = None):
        if len(forcing) != 1:
            raise BinnInputError(f"the explorer shows one site; got a forcing of {len(forcing)} sites (use forcing[[i]])")
        self.forcing = forcing.to(dtype=torch.float64)
        self.names = tuple(params)
        if not self.names:
            raise BinnInputError("give at least one parameter for a slider")
        for name in self.names:
            CLM5_PARAMETERS.index(name)
        self.model = model or CLM5()
        if base is None:
            base_values = CLM5_PARAMETERS.default.clone()
        elif isinstance(base, Mapping) or isinstance(base, pd.Series):
            base_values = CLM5_PARAMETERS.default.clone()
            for name, value in dict(base).items():
                base_values[CLM5_PARAMETERS.index(name)] = float(value)
        else:
            base_values = torch.as_tensor(np.asarray(base, dtype=float)).reshape(-1).clone()
            if base_values.numel() != len(CLM5_PARAMETERS):
                raise BinnInputError(f"base must hold {len(CLM5_PARAMETERS)} physical values; got {base_values.numel()}")
        self.steps = {n: _nice_step(CLM5_PARAMETERS[n].high - CLM5_PARAMETERS[n].low) for n in self.names}
        self.start = {n: self.snap(n, float(base_values[CLM5_PARAMETERS.index(n)])) for n in self.names}
        for n, v in self.start.items():
            base_values[CLM5_PARAMETERS.index(n)] = v
        self.base = base_values
        self.observations = None
        if observations is not None:
            missing = {"depth_m", "soc_gC_m3"} - set(observations.columns)
            if missing:
                raise BinnInputError(f"observations need the columns depth_m and soc_gC_m3; missing {sorted(missing)}")
            self.observations = observations[["depth_m", "soc_gC_m3"]].to_numpy(dtype=float)
        deepest = float(self.observations[:, 0].max()) + 0.2 if self.observations is not None else 0.0
        self.max_depth = float(max_depth) if max_depth is not None else max(2.0, deepest)
        self.reference = self.soc(self.start)
        self._shown = ZSOI.numpy() <= self.max_depth
        values = self.reference[self._shown]
        if self.observations is not None:
            values = np.concatenate([values, self.observations[:, 1]])
        self.xlim = (0.0, 2.5 * float(values.max()) / 1000.0)  # kgC m-3

    def snap(self, name: str, value: float) -> float:
        """``value`` moved onto the slider grid ``low + k step`` of parameter ``name`` (within the range)."""
        p = CLM5_PARAMETERS[name]
        step = _nice_step(p.high - p.low)
        k = round((min(max(value, p.low), p.high) - p.low) / step)
        k = min(k, math.floor((p.high - p.low) / step + 1e-9))
        return round(p.low + k * step, 12)

    def parameters(self, values: Mapping[str, float]) -> torch.Tensor:
        """All 21 physical values ``[1, 21]``: ``base`` with ``values`` (name -> physical value) set."""
        p = self.base.clone()
        for name, value in values.items():
            p[CLM5_PARAMETERS.index(name)] = float(value)
        return p[None]

    def soc(self, values: Mapping[str, float]) -> np.ndarray:
        """Steady-state SOC at the 20 nodes (gC m-3) for the slider values (name -> physical value)."""
        with torch.no_grad():
            return self.model(self.parameters(values), self.forcing)[0].double().numpy()

    def figure(self, **values: float) -> Figure:
        """The explorer's picture for these values (missing names keep their start values).

        A fixed-size figure (6.5 x 4.5 in) not registered with pyplot: depth against SOC on fixed
        axes, the starting profile dashed, the observations as squares.
        """
        unknown = sorted(set(values) - set(self.names))
        if unknown:
            raise BinnInputError(f"no slider for {unknown}; sliders: {list(self.names)}")
        current = {**self.start, **values}
        soc = self.soc(current)
        fig = Figure(figsize=(6.5, 4.5), dpi=80)
        ax = fig.add_axes((0.12, 0.12, 0.55, 0.78))
        z = ZSOI.numpy()
        ax.plot(self.reference / 1000.0, z, "--", color="0.6", lw=1.2, label="start")
        ax.plot(soc / 1000.0, z, "o-", color="C0", lw=2, ms=4, label="model")
        if self.observations is not None:
            ax.plot(self.observations[:, 1] / 1000.0, self.observations[:, 0], "s", color="black", ms=5,
                    label="observed")
        ax.set_xlim(*self.xlim)
        ax.set_ylim(self.max_depth, 0.0)
        if float(soc[self._shown].max()) / 1000.0 > self.xlim[1]:
            ax.text(0.97, 0.03, "model curve off the chart →", transform=ax.transAxes, ha="right", color="C3",
                    fontsize=9)
        ax.set_xlabel("SOC (kgC m$^{-3}$)")
        ax.set_ylabel("depth (m)")
        ax.set_title("steady-state SOC profile")
        ax.legend(loc="lower right" if self.observations is None else "center right", fontsize=8)
        text = "\n".join(f"{n} = {current[n]:.4g} {CLM5_PARAMETERS[n].unit}".replace(" -", "")
                         for n in self.names)
        fig.text(0.71, 0.88, text, va="top", fontsize=9, family="monospace")
        stock = float((torch.as_tensor(soc) * DZ).sum() / 1000.0)
        fig.text(0.71, 0.25, f"SOC stock\n(0-8.6 m):\n{stock:,.1f} kgC m$^{{-2}}$", va="top", fontsize=9)
        return fig

    def png(self, **values: float) -> bytes:
        """PNG bytes of :meth:`figure` (the same values always give the same bytes)."""
        return figure_png(self.figure(**values))

    def sliders(self) -> dict:
        """One ``ipywidgets.FloatSlider`` per parameter (physical units, ``continuous_update=False``)."""
        import ipywidgets as widgets

        sliders = {}
        for name in self.names:
            p = CLM5_PARAMETERS[name]
            sliders[name] = widgets.FloatSlider(
                value=self.start[name], min=p.low, max=p.high, step=self.steps[name],
                description=name, readout_format=".4g", continuous_update=False,
                style={"description_width": "80px"}, layout=widgets.Layout(width="420px"))
        return sliders

    def widget(self):
        """Sliders above the picture: ``VBox([sliders..., Output])``; each change redraws the picture."""
        import ipywidgets as widgets
        from IPython.display import Image, display

        sliders = self.sliders()

        def draw(**values: float) -> None:
            display(Image(data=self.png(**values), format="png"))

        output = widgets.interactive_output(draw, sliders)
        units = widgets.HTML("units: " + ", ".join(f"{n} [{CLM5_PARAMETERS[n].unit}]" for n in self.names))
        return widgets.VBox([*sliders.values(), units, output])


def parameter_explorer(forcing: Forcing, observations: pd.DataFrame | None = None,
                       params: Sequence[str] = EXPLORER_PARAMETERS, base=None, max_depth: float | None = None):
    """A slider widget: the steady-state SOC profile of one site as the parameters change.

    One ``FloatSlider`` (physical units, redraws when released) per name in ``params`` (default the
    four most influential parameters, ``q10`` and ``beta``); the other parameters stay at ``base``
    (physical values, default the middle of every range). See :class:`ParameterExplorer` for the
    arguments and for drawing without widgets. Works with ipywidgets 7.7 and 8.

    Returns
    -------
    ipywidgets.VBox with the sliders and an ``Output`` holding the picture.
    """
    return ParameterExplorer(forcing, observations, params=params, base=base, max_depth=max_depth).widget()


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """The figure as PNG bytes; figures drawn the same way give the same bytes (no timestamp, no software tag).

    (Saving one figure with a layout engine twice may differ slightly: the second layout starts from
    the first one's result.)
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
