"""The parameter table and the unit <-> physical mapping."""
import pytest
import torch

from binn_lite.clm5 import CLM5_PARAMETERS, MOST_INFLUENTIAL
from binn_lite.parameters import Parameter, ParameterTable


def test_clm5_table_matches_the_spec():
    frame = CLM5_PARAMETERS.frame()
    assert len(frame) == 21 and list(frame.columns) == ["low", "high", "default", "unit", "meaning"]
    assert frame.loc["tau_s3", "low"] == 20 and frame.loc["tau_s3", "high"] == 400 and frame.loc["tau_s3", "unit"] == "yr"
    assert frame.loc["beta", "high"] == 0.9999 and frame.loc["cryo", "high"] == 1.6e-3
    assert [CLM5_PARAMETERS.index(n) for n in MOST_INFLUENTIAL] == [3, 9, 14, 19]
    # within the ranges no donor pool's fractions sum above 1 (som2: fs2s1 + fs2s3)
    assert frame.loc["fs2s1", "high"] + frame.loc["fs2s3", "high"] <= 1


def test_unit_physical_round_trip():
    unit = torch.rand(7, 21, dtype=torch.float64)
    physical = CLM5_PARAMETERS.to_physical(unit)
    torch.testing.assert_close(CLM5_PARAMETERS.to_unit(physical), unit, rtol=0, atol=1e-12)
    torch.testing.assert_close(physical[:, 9], 20 + unit[:, 9] * 380)
    torch.testing.assert_close(CLM5_PARAMETERS.to_physical(torch.full((1, 21), 0.5, dtype=torch.float64))[0],
                               CLM5_PARAMETERS.default)


def test_named_columns_and_subsets():
    values = CLM5_PARAMETERS.defaults_like(3)
    named = CLM5_PARAMETERS.as_dict(values)
    assert named["efolding"].shape == (3,) and float(named["efolding"][0]) == pytest.approx(0.55)
    torch.testing.assert_close(CLM5_PARAMETERS.stack(named), values)
    four = CLM5_PARAMETERS.subset(MOST_INFLUENTIAL)
    assert four.names == MOST_INFLUENTIAL and len(four) == 4


def test_bad_tables_and_shapes_are_reported():
    with pytest.raises(ValueError, match="high .* must exceed low"):
        Parameter("x", 1.0, 1.0, "-", "", 1.0)
    with pytest.raises(ValueError, match="duplicate parameter names"):
        ParameterTable([Parameter("x", 0, 1, "-", "", 0.5)] * 2)
    with pytest.raises(ValueError, match="parameter tensor has 20 columns, the table has 21"):
        CLM5_PARAMETERS.to_physical(torch.zeros(2, 20))
    with pytest.raises(KeyError, match="unknown parameter 'tau_s4'"):
        CLM5_PARAMETERS.index("tau_s4")


def test_bounds_made_once_are_still_checked_and_shaped_every_time():
    """The table keeps its bounds per dtype and device; a later call of the wrong width is still
    refused, the range edges (widened by RANGE_TOLERANCE) and NaN/inf still judged, in float32 too."""
    table = ParameterTable([Parameter("a", 1.0, 3.0, "-", "", 2.0), Parameter("b", 0.0, 10.0, "-", "", 5.0)])
    for dtype in (torch.float64, torch.float32):
        table.check_physical(torch.tensor([[1.0, 0.0], [3.0, 10.0]], dtype=dtype))
        table.check_physical(torch.tensor([[1.0 - 1e-5, 10.0 + 5e-5]], dtype=dtype))  # inside the tolerance
        for bad in (0.99, 3.01, float("nan"), float("inf"), -float("inf")):
            with pytest.raises(ValueError, match=r"value of 'a' must be finite and in \[1, 3\]; site 1"):
                table.check_physical(torch.tensor([[2.0, 5.0], [bad, 5.0]], dtype=dtype))
        for bad in (-0.01, 1.01, float("nan"), float("inf"), -float("inf")):
            with pytest.raises(ValueError, match=r"unit value of 'b' must be finite and in \[0, 1\]; site 0"):
                table.to_physical(torch.tensor([[0.5, bad]], dtype=dtype))
        with pytest.raises(ValueError, match=r"parameter tensor has 3 columns, the table has 2 \(a, b\)$"):
            table.check_physical(torch.ones(2, 3, dtype=dtype))  # no "unit values?" hint for a wrong width
        with pytest.raises(ValueError, match="parameter tensor has 1 columns, the table has 2"):
            table.to_physical(torch.full((2, 1), 0.5, dtype=dtype))


def test_limits_stay_finite_and_a_pickled_table_makes_its_own():
    """A range past the dtype's largest number still refuses infinities (float16: 65504); a table
    pickled after use (its cached bounds stay behind) checks as before."""
    import pickle

    wide = ParameterTable([Parameter("a", 0.0, 1e5, "-", "", 1.0)])
    wide.check_physical(torch.tensor([[6e4]], dtype=torch.float16))
    for bad in (float("inf"), -float("inf"), float("nan")):
        with pytest.raises(ValueError, match="value of 'a' must be finite"):
            wide.check_physical(torch.tensor([[bad]], dtype=torch.float16))
    CLM5_PARAMETERS.check_physical(CLM5_PARAMETERS.defaults_like(2))
    copy = pickle.loads(pickle.dumps(CLM5_PARAMETERS))
    assert copy._bounds == {} and copy._limits == {}
    copy.check_physical(CLM5_PARAMETERS.defaults_like(2))
    too_big = CLM5_PARAMETERS.defaults_like(2)
    too_big[1, CLM5_PARAMETERS.index("q10")] = 100.0
    with pytest.raises(ValueError, match="value of 'q10' must be finite and in .*; site 1 has 100"):
        copy.check_physical(too_big)
