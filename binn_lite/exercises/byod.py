"""Checkers for tutorial 07 (bring your own data): units of a soil-profile export, by hand.

Every checker recomputes the right answer from the table it is given (a row of the export, the
export itself, the observations read by ``read_dataset``), so it agrees with whatever the learner's
files hold. Each prints one line of feedback and returns ``True`` / ``False`` (``None`` while the
answer is still ``...``). The units:

    SOC density (g C m-3) = orgc (%) x bulk density (g cm-3) x 10,000 x (1 - coarse fragments (vol %) / 100)

(1 % = 0.01 g C per g fine earth; 1 m3 = 10^6 cm3; stones hold no carbon), and the stock of a
layer is its density times the thickness of the layer inside the depth interval (m): g C m-2.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import BinnInputError
from ._feedback import correct, name_and_value, number, unanswered, wrong

__all__ = ["horizon_soc_density", "filled_horizons", "topsoil_stocks",
           "check_horizon_soc", "check_filled_horizon", "check_largest_stock"]


def _close(value: float, target: float, rel: float = 1e-3) -> bool:
    return abs(value - target) <= rel * abs(target) + 1e-9


def _table(frame: Any, columns: list[str], what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise BinnInputError(f"{what} must be a pandas DataFrame; got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise BinnInputError(f"{what} needs the column(s) {', '.join(missing)}; has {', '.join(map(str, frame.columns))}")
    return frame


# ---------------------------------------------------------------------------------------------
# Exercise 1 (★☆☆): one horizon's SOC density
# ---------------------------------------------------------------------------------------------
def horizon_soc_density(orgc_percent: float, bulk_density: float, coarse_percent: float = 0.0) -> float:
    """SOC density (g C m-3) of a horizon: orgc (%) x bulk density (g cm-3) x 10,000 x (1 - coarse (%) / 100)."""
    return float(orgc_percent) * float(bulk_density) * 1e4 * (1.0 - float(coarse_percent) / 100.0)


def check_horizon_soc(answer: Any, orgc_percent: float, bulk_density: float,
                      coarse_percent: float = 0.0) -> bool | None:
    """Exercise 1 (★☆☆): the SOC density of one horizon in g C m-3 (relative tolerance 0.1 %)."""
    if unanswered(answer):
        return None
    value = number(answer, "the SOC density")
    if value is None:
        return False
    oc, bd, cf = float(orgc_percent), float(bulk_density), float(coarse_percent)
    right = horizon_soc_density(oc, bd, cf)
    if _close(value, right):
        return correct(f"{oc:g} % x {bd:g} g cm-3 x 10,000 x (1 - {cf:g}/100) = {right:,.0f} g C m-3 "
                       f"({right / 1000:.1f} kg C m-3).")
    if cf > 0 and _close(value, oc * bd * 1e4):
        return wrong("the stones: the bulk density is that of the fine earth, and coarse fragments hold no carbon; "
                     "multiply by the fine-earth share of the volume, 1 - cfvo/100.")
    if cf > 0 and _close(value, oc * bd * 1e4 * cf / 100):
        return wrong("that counts the stones' share of the volume; the carbon is in the rest, 1 - cfvo/100.")
    if cf > 0 and _close(value, oc * bd * 1e4 * (1 - cf)):
        return wrong("cfvo is a percentage: the fine-earth share is 1 - cfvo/100, not 1 - cfvo.")
    if _close(value, right / 10):
        return wrong("a factor 10 too small: 1 % is 10 g C per kg, not 1 g per kg; the factor is 10,000, not 1,000.")
    if _close(value, right / 1000):
        return wrong("that is kg C m-3; give g C m-3 (1 kg = 1,000 g).")
    if _close(value, right * 100):
        return wrong("a factor 100 too large: orgc is in per cent (g C per 100 g), so divide it by 100 "
                     "before multiplying by the 10^6 cm3 in a m3.")
    return wrong("g C per g soil (orgc / 100) x g soil per cm3 (bulk density) x 10^6 cm3 per m3 x the fine-earth "
                 "share (1 - cfvo/100).")


# ---------------------------------------------------------------------------------------------
# Exercise 2 (★★☆): filling a missing bulk density (a pedotransfer from the profile itself)
# ---------------------------------------------------------------------------------------------
def filled_horizons(profiles: pd.DataFrame, site_id: str = "profile_id") -> pd.DataFrame:
    """The horizons of an export without a bulk density, filled from the same profile.

    Duplicated rows are dropped first. A missing ``bdod`` is interpolated linearly with depth
    (horizon middles, cm) between the profile's other horizons, constant beyond the shallowest and
    deepest. Returns those rows with ``bdod_filled`` (g cm-3) and ``soc_gC_m3``.
    """
    table = _table(profiles, [site_id, "upper_depth", "lower_depth", "orgc", "bdod", "cfvo"], "profiles")
    table = table.drop_duplicates().copy()
    table["middle"] = 0.5 * (table["upper_depth"].astype(float) + table["lower_depth"].astype(float))
    rows = []
    for _, profile in table.groupby(site_id, sort=False):
        known = profile[profile["bdod"].notna()].sort_values("middle")
        for index, row in profile[profile["bdod"].isna()].iterrows():
            if known.empty:
                continue
            filled = float(np.interp(row["middle"], known["middle"], known["bdod"].astype(float)))
            rows.append({**row.drop("middle").to_dict(), "bdod_filled": filled,
                         "soc_gC_m3": horizon_soc_density(row["orgc"], filled, row["cfvo"])})
    if not rows:
        raise BinnInputError("profiles: no horizon without a bulk density that another horizon of its profile could fill")
    return pd.DataFrame(rows)


def check_filled_horizon(answer: Any, profiles: pd.DataFrame, site_id: str = "profile_id") -> bool | None:
    """Exercise 2 (★★☆): ``(profile id, SOC density)`` of the filled horizon with the most SOC (g C m-3,
    within 0.5 %). ``profiles`` is the export as read (the checker drops duplicated rows itself)."""
    if unanswered(answer):
        return None
    pair = name_and_value(answer, "profile id", "its SOC density (g C m-3)", "('S00123', 25000.0)")
    if pair is None:
        return False
    name, value = pair
    filled = filled_horizons(profiles, site_id)
    best = filled.loc[filled["soc_gC_m3"].idxmax()]
    right_name, right = str(best[site_id]), float(best["soc_gC_m3"])
    if name == right_name and _close(value, right, 5e-3):
        return correct(f"{right_name}, {best['upper_depth']:g}-{best['lower_depth']:g} cm: bulk density "
                       f"{best['bdod_filled']:.3f} g cm-3 from its neighbours -> {right:,.0f} g C m-3. Dropping it "
                       f"would leave a gap in that profile.")
    known = profiles.drop_duplicates()
    profile_mean = float(known.loc[known[site_id].astype(str) == right_name, "bdod"].mean())
    if name == right_name:
        if _close(value, horizon_soc_density(best["orgc"], best["bdod_filled"], 0.0), 5e-3):
            return wrong("right horizon; multiply by the fine-earth share 1 - cfvo/100 as well.")
        if _close(value, horizon_soc_density(best["orgc"], profile_mean, best["cfvo"]), 5e-3):
            return wrong("right horizon; that is the profile's mean bulk density, but bulk density rises with depth: "
                         "interpolate between the horizons above and below (np.interp on the horizon middles).")
        return wrong("right horizon; fill its bulk density by np.interp on the horizon middles of the profile's "
                     "other horizons, then orgc x bdod x 10,000 x (1 - cfvo/100).")
    others = dict(zip(filled[site_id].astype(str), filled["soc_gC_m3"]))
    if name in others:
        return wrong(f"{name}'s filled horizon holds less SOC than another; compute all "
                     f"{len(filled)} filled horizons and take the largest.")
    return wrong(f"{name!r} has no horizon without a bulk density; look at profiles[profiles['bdod'].isna()].")


# ---------------------------------------------------------------------------------------------
# Exercise 3 (★★☆): the SOC stock of the topsoil
# ---------------------------------------------------------------------------------------------
def topsoil_stocks(observations: pd.DataFrame, depth: float = 0.3) -> pd.Series:
    """SOC stock 0-``depth`` m of every site (kg C m-2): sum of density x thickness of each horizon above ``depth``."""
    table = _table(observations, ["site_id", "top_m", "bottom_m", "soc_gC_m3"], "observations")
    inside = (np.minimum(table["bottom_m"], depth) - np.minimum(table["top_m"], depth)).clip(lower=0.0)
    return (table["soc_gC_m3"] * inside).groupby(table["site_id"], sort=False).sum() / 1000.0


def check_largest_stock(answer: Any, observations: pd.DataFrame, depth: float = 0.3) -> bool | None:
    """Exercise 3 (★★☆): ``(site id, stock)`` of the site with the largest SOC stock 0-``depth`` m,
    in kg C m-2 (within 0.5 %)."""
    if unanswered(answer):
        return None
    pair = name_and_value(answer, "site id", f"its stock 0-{depth * 100:g} cm (kg C m-2)", "('S00123', 8.5)")
    if pair is None:
        return False
    name, value = pair
    stocks = topsoil_stocks(observations, depth)
    right_name, right = str(stocks.idxmax()), float(stocks.max())
    if name not in stocks.index:
        return wrong(f"{name!r} is not a site of the observations; ids look like {stocks.index[0]!r}.")
    mine = float(stocks[name])
    if name == right_name and _close(value, right, 5e-3):
        share = right / float(stocks.median())
        return correct(f"{right_name} holds {right:.2f} kg C m-2 in the top {depth * 100:g} cm, "
                       f"{share:.1f} times the median site.")
    table = observations[observations["site_id"].astype(str) == name]
    whole = float((table["soc_gC_m3"] * (table["bottom_m"] - table["top_m"]))[table["top_m"] < depth].sum()) / 1000
    if _close(value, mine * 1000, 5e-3):
        return wrong("that is g C m-2; give kg C m-2 (divide by 1,000).")
    if _close(value, mine * 100, 5e-3):
        return wrong("the thickness must be in metres (density is per m3): a factor 100 too large.")
    if _close(value, whole, 5e-3) and not _close(whole, mine, 5e-3):
        return wrong(f"the deepest horizon of a profile can reach below {depth * 100:g} cm: count only its part "
                     f"above {depth:g} m, min(bottom_m, {depth:g}) - top_m.")
    if name != right_name:
        if _close(value, mine, 5e-3):
            return wrong(f"that is {name}'s stock, but another site holds more; compute every site's stock and "
                         "take the largest (.idxmax(), .max()).")
        return wrong("not the site with the largest stock; compute the stock of every site first "
                     "(groupby('site_id').sum()), then take the largest.")
    return wrong("right site; stock = sum over horizons of SOC density (g C m-3) x the thickness inside 0-"
                 f"{depth:g} m (m), divided by 1,000 for kg C m-2.")
