"""The truth of a synthetic dataset: the parameters that generated it and how they depend on covariates.

A varying parameter ``p`` follows the relationship family of the ScIReN test (Fan et al. 2025):

    g_p = sum over its drivers k of  c_k f_k(a_k x_k + b_k) + d_k,    x_k = (covariate_k - mean_k) / std_k
    u_p = u_min + (u_max - u_min) (g_p - g_min) / (g_max - g_min)       (unit value in [0, 1])
    p   = low + u_p (high - low)                                        (physical value)

with ``f`` one of :data:`TRUTH_FUNCTIONS`. :class:`Truth` holds the per-site parameters and the
relationships, and evaluates them (curves along one driver, components, new sites). For CLM5,
:func:`draw_truth` draws the relationships of a scenario (:data:`SCENARIOS`) at random.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..clm5 import CLM5_PARAMETERS, MOST_INFLUENTIAL
from ..errors import BinnInputError
from .schema import SCIREN_COVARIATES, TRUTH_DIGITS, significant

__all__ = ["TRUTH_FUNCTIONS", "Truth", "SCENARIOS", "draw_truth"]


def _log2_shifted(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x + 2.5 > 0, np.log2(np.maximum(x + 2.5, 1e-300)), np.nan)


#: the function family of the ScIReN relationship test, ``f`` in ``c f(a x + b) + d``
TRUTH_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "x": lambda x: x,
    "x^2": lambda x: x ** 2,
    "log2(x+2.5)": _log2_shifted,
    "2^x": lambda x: 2.0 ** x,
    "|x|": np.abs,
}


class Truth:
    """The parameters that generated a synthetic dataset, and how they depend on covariates.

    Attributes
    ----------
    scenario : name of the truth scenario (``"sciren4"``, ``"all21"``, ...).
    params : DataFrame, index ``site_id``, one column per process-model parameter, physical units.
    relationships : ``{parameter: [term, ...]}`` for every parameter that varies between sites. A
        term is a dict ``{"covariate", "f", "a", "b", "c", "d", "mean", "std"}``: with the z-scored
        covariate ``x = (covariate - mean) / std`` it contributes ``g = c f(a x + b) + d``, ``f`` one of
        :data:`TRUTH_FUNCTIONS`.
    rescaling : ``{parameter: {"g_min", "g_max", "u_min", "u_max"}}``: the unit parameter is
        ``u = u_min + (u_max - u_min) (sum of terms - g_min) / (g_max - g_min)`` (ScIReN rescales every
        parameter to span [0.2, 0.8] of its range over the sites).
    fixed : ``{parameter: unit value}`` for parameters that are the same at every site.
    low, high : ``{parameter: bound}``: physical value ``= low + u (high - low)``.
    """

    def __init__(self, scenario: str, params: pd.DataFrame,
                 relationships: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                 rescaling: Mapping[str, Mapping[str, float]] | None = None,
                 fixed: Mapping[str, float] | None = None,
                 low: Mapping[str, float] | None = None, high: Mapping[str, float] | None = None):
        self.scenario = str(scenario)
        self.params = params.copy()
        self.relationships = {p: [dict(t) for t in terms] for p, terms in (relationships or {}).items()}
        self.rescaling = {p: dict(r) for p, r in (rescaling or {}).items()}
        self.fixed = {p: float(v) for p, v in (fixed or {}).items()}
        self.low = {p: float(v) for p, v in (low or {}).items()}
        self.high = {p: float(v) for p, v in (high or {}).items()}
        for p, terms in self.relationships.items():
            if p not in self.rescaling:
                raise BinnInputError(f"truth: parameter {p!r} has relationships but no rescaling")
            for term in terms:
                if term["f"] not in TRUTH_FUNCTIONS:
                    raise BinnInputError(f"truth: unknown function {term['f']!r} for {p!r}; known: {', '.join(TRUTH_FUNCTIONS)}")

    # -- views ----------------------------------------------------------------------------------
    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(self.params.columns)

    @property
    def varying(self) -> tuple[str, ...]:
        """Parameters that depend on covariates."""
        return tuple(self.relationships)

    @property
    def drivers(self) -> dict[str, list[str]]:
        """``{parameter: [driver covariate, ...]}`` for every varying parameter."""
        return {p: [t["covariate"] for t in terms] for p, terms in self.relationships.items()}

    @property
    def unit_params(self) -> pd.DataFrame:
        """The true parameters mapped to [0, 1] with ``(x - low) / (high - low)``."""
        missing = [p for p in self.params.columns if p not in self.low or p not in self.high]
        if missing:
            raise BinnInputError(f"truth: no parameter range for {', '.join(missing)}")
        low = pd.Series(self.low)[self.params.columns]
        high = pd.Series(self.high)[self.params.columns]
        return (self.params - low) / (high - low)

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return f"Truth({self.scenario!r}, {len(self.params)} sites, varying: {', '.join(self.varying) or 'none'})"

    def subset(self, site_ids: Sequence[Any]) -> "Truth":
        """The same truth restricted to ``site_ids`` (in that order)."""
        return Truth(self.scenario, self.params.loc[list(site_ids)], self.relationships, self.rescaling,
                     self.fixed, self.low, self.high)

    # -- the relationships as functions -----------------------------------------------------------
    @staticmethod
    def term_value(term: Mapping[str, Any], values: np.ndarray) -> np.ndarray:
        """``c f(a x + b) + d`` with ``x = (values - mean) / std`` (values in the covariate's unit)."""
        x = (np.asarray(values, dtype=np.float64) - term["mean"]) / term["std"]
        return term["c"] * TRUTH_FUNCTIONS[term["f"]](term["a"] * x + term["b"]) + term["d"]

    def _to_unit(self, param: str, g: np.ndarray) -> np.ndarray:
        r = self.rescaling[param]
        return r["u_min"] + (r["u_max"] - r["u_min"]) * (g - r["g_min"]) / (r["g_max"] - r["g_min"])

    def evaluate(self, covariates: pd.DataFrame) -> pd.DataFrame:
        """True unit parameters [0, 1] at any sites from their covariates (same index as ``covariates``).

        Varying parameters follow their relationships, fixed ones their constant. Raises
        ``BinnInputError`` where a relationship is undefined (``log2`` of a non-positive number).
        """
        out = {}
        for p in self.params.columns:
            if p in self.relationships:
                g = sum(self.term_value(t, covariates[t["covariate"]].to_numpy(dtype=np.float64))
                        for t in self.relationships[p])
                u = self._to_unit(p, g)
                if not np.all(np.isfinite(u)):
                    site = covariates.index[~np.isfinite(u)][0]
                    raise BinnInputError(f"truth relationship of {p!r} is undefined at site {site!r}")
                out[p] = u
            elif p in self.fixed:
                out[p] = np.full(len(covariates), self.fixed[p])
        return pd.DataFrame(out, index=covariates.index)

    def curve(self, param: str, covariate: str, values: Sequence[float] | np.ndarray,
              at: Mapping[str, float] | None = None) -> np.ndarray:
        """The true unit parameter as a function of one covariate, the other drivers held fixed.

        Parameters
        ----------
        param : parameter name.
        covariate : covariate name; if it does not drive ``param`` the curve is flat.
        values : covariate values in the covariate's own unit (not z-scored).
        at : values of the other drivers (own units); default: their mean, i.e. ``x = 0``.

        Returns
        -------
        numpy array like ``values``: ``u = u_min + (u_max - u_min) (sum_k g_k - g_min) / (g_max - g_min)``.
        NaN where a ``log2`` term is undefined.
        """
        values = np.asarray(values, dtype=np.float64)
        if param in self.fixed and param not in self.relationships:
            return np.full(values.shape, self.fixed[param])
        if param not in self.relationships:
            raise KeyError(f"truth has no relationship for {param!r}; varying: {', '.join(self.varying)}")
        at = dict(at or {})
        g = np.zeros(values.shape)
        for term in self.relationships[param]:
            if term["covariate"] == covariate:
                g = g + self.term_value(term, values)
            else:
                g = g + self.term_value(term, np.asarray(at.get(term["covariate"], term["mean"])))
        return self._to_unit(param, g)

    def component(self, param: str, covariate: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Contribution of one driver to the unit parameter, ``(u_max - u_min) g_k / (g_max - g_min)``.

        Additive parts are defined up to a constant; compare shapes (e.g. after removing the mean),
        as for the edge functions of a KAN. Zero if ``covariate`` does not drive ``param``.
        """
        values = np.asarray(values, dtype=np.float64)
        if param not in self.relationships:
            return np.zeros(values.shape)
        r = self.rescaling[param]
        g = np.zeros(values.shape)
        for term in self.relationships[param]:
            if term["covariate"] == covariate:
                g = g + self.term_value(term, values)
        return (r["u_max"] - r["u_min"]) * g / (r["g_max"] - r["g_min"])

    def to_dict(self) -> dict[str, Any]:
        """Everything except the per-site table, JSON-serialisable."""
        return {"scenario": self.scenario, "relationships": self.relationships, "rescaling": self.rescaling,
                "fixed": self.fixed, "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], params: pd.DataFrame) -> "Truth":
        """Inverse of :meth:`to_dict` with the per-site table ``params``."""
        return cls(d["scenario"], params, d.get("relationships"), d.get("rescaling"), d.get("fixed"),
                   d.get("low"), d.get("high"))


# ---------------------------------------------------------------------------------------------
# Truth scenarios of the synthetic CLM5 data
# ---------------------------------------------------------------------------------------------
SCENARIOS = ("sciren4", "all21")
SMOOTH_FUNCTIONS = ("x", "x^2", "log2(x+2.5)", "2^x")  # for "all21" (|x| has a kink)
UNIT_SPAN = (0.2, 0.8)  # varying parameters span this part of their range over the sites


def _draw_relationship(rng: np.random.Generator, param: str, z: pd.DataFrame, stats: pd.DataFrame,
                       functions: Sequence[str], n_drivers: int = 2) -> tuple[list[dict], dict]:
    """Draw drivers and ``c f(a x + b) + d`` terms for one parameter (x = z-scored covariate).

    A draw is rejected (and drawn again) if a ``log2`` argument is not positive at some site, if one
    driver has less than a fifth of the influence (standard deviation over sites) of the other, or
    if the rescaled parameter barely varies (standard deviation of u below 0.08, most sites on one
    value): such draws would make a relationship invisible rather than hard to find.
    """
    names = list(z.columns)
    for _ in range(1000):
        drivers = rng.choice(len(names), size=n_drivers, replace=False)
        terms, parts = [], []
        for j in drivers:
            f = str(functions[int(rng.integers(len(functions)))])
            a, b, c, d = (float(v) for v in rng.uniform(-1.0, 1.0, 4))
            covariate = names[j]
            terms.append({"covariate": covariate, "f": f, "a": a, "b": b, "c": c, "d": d,
                          "mean": float(stats.loc[covariate, "mean"]), "std": float(stats.loc[covariate, "std"])})
            parts.append(c * TRUTH_FUNCTIONS[f](a * z[covariate].to_numpy() + b) + d)
        parts = np.array(parts)
        if not np.all(np.isfinite(parts)):
            continue
        spread = parts.std(axis=1)
        if spread.min() < 0.2 * spread.max():
            continue
        g = parts.sum(axis=0)
        g_min, g_max = float(g.min()), float(g.max())
        if not g_max > g_min:
            continue
        u = UNIT_SPAN[0] + (UNIT_SPAN[1] - UNIT_SPAN[0]) * (g - g_min) / (g_max - g_min)
        if u.std() < 0.08:
            continue
        return terms, {"g_min": g_min, "g_max": g_max, "u_min": UNIT_SPAN[0], "u_max": UNIT_SPAN[1]}
    raise RuntimeError(f"could not draw a usable relationship for {param!r}")  # pragma: no cover


def draw_truth(rng: np.random.Generator, sites: pd.DataFrame, scenario: str) -> Truth:
    """The truth of a CLM5 ``scenario`` over ``sites``: relationships, rescaling, per-site parameters.

    ``"sciren4"``: the four :data:`~binn_lite.clm5.MOST_INFLUENTIAL` parameters each depend on 2 of
    the 10 :data:`~binn_lite.data.schema.SCIREN_COVARIATES` (``f`` any of :data:`TRUTH_FUNCTIONS`;
    a, b, c, d ~ U(-1, 1)), each spanning [0.2, 0.8] of its range; the other 17 fixed at u = 0.5.
    ``"all21"``: all 21 parameters vary that way, with smooth ``f`` only (no ``|x|``). The
    covariates are z-scored over ``sites``; physical parameters keep :data:`TRUTH_DIGITS` digits.
    """
    covariates = sites[list(SCIREN_COVARIATES)]
    stats = pd.DataFrame({"mean": covariates.mean(), "std": covariates.std(ddof=0)})
    z = (covariates - stats["mean"]) / stats["std"]
    if scenario == "sciren4":
        varying, functions = MOST_INFLUENTIAL, tuple(TRUTH_FUNCTIONS)
    elif scenario == "all21":
        varying, functions = CLM5_PARAMETERS.names, SMOOTH_FUNCTIONS
    else:
        raise BinnInputError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    relationships, rescaling = {}, {}
    for param in varying:
        relationships[param], rescaling[param] = _draw_relationship(rng, param, z, stats, functions)
    fixed = {p: 0.5 for p in CLM5_PARAMETERS.names if p not in relationships}
    low = {p.name: p.low for p in CLM5_PARAMETERS}
    high = {p.name: p.high for p in CLM5_PARAMETERS}
    shell = Truth(scenario, pd.DataFrame(index=sites.index, columns=list(CLM5_PARAMETERS.names), dtype=float),
                  relationships, rescaling, fixed, low, high)
    unit = shell.evaluate(sites)[list(CLM5_PARAMETERS.names)]
    physical = unit * (pd.Series(high) - pd.Series(low))[unit.columns] + pd.Series(low)[unit.columns]
    physical = physical.apply(lambda col: significant(col.to_numpy(), TRUTH_DIGITS), raw=False)
    physical.index.name = "site_id"
    return Truth(scenario, physical, relationships, rescaling, fixed, low, high)
