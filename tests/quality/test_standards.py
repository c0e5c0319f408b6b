"""GB 3097-1997 limits and single-factor classification (bbw_bay.quality.standards)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bbw_bay.quality import standards
from bbw_bay.quality.standards import (
    NO_VALUE,
    PARAMETERS,
    TRACER_PARAMETERS,
    StandardsError,
    classify,
    limit,
    overall_class,
    parameter,
)

# GB 3097-1997 Table 1, Class I..IV, mg/L, as printed in 李海涛 & 王博睿 2020 (海洋科学 44(6),
# Table 1) and the project's research notes (domain.md §1).
PINNED = {
    "DIN": (0.20, 0.30, 0.40, 0.50),
    "PO4": (0.015, 0.030, 0.030, 0.045),
    "COD": (2.0, 3.0, 4.0, 5.0),
    "oil": (0.05, 0.05, 0.30, 0.50),
    "DO": (6.0, 5.0, 4.0, 3.0),
}


@pytest.mark.parametrize("key", sorted(PINNED))
def test_limits_of_the_modelled_parameters_are_those_of_gb3097_table1(key):
    assert tuple(limit(key, k) for k in (1, 2, 3, 4)) == PINNED[key]


def test_ph_range_is_7_8_to_8_5_for_classes_1_2_and_6_8_to_8_8_for_3_4():
    assert [limit("pH", k) for k in (1, 2, 3, 4)] == [
        (7.8, 8.5),
        (7.8, 8.5),
        (6.8, 8.8),
        (6.8, 8.8),
    ]


def test_every_row_is_monotone_from_class_1_to_4_and_cites_a_source():
    # a stricter class can never have a laxer limit; each row says where it was verified
    for p in PARAMETERS.values():
        lim = np.array(p.limits)
        if p.direction == "lower":
            assert np.all(np.diff(lim) <= 0), p.key
        else:
            assert np.all(np.diff(lim) >= 0), p.key
        assert p.source and p.unit and p.name_zh, p.key


def test_cod_is_the_alkaline_permanganate_method():
    assert "permanganate" in parameter("COD").note
    with pytest.raises(StandardsError, match="COD_Cr"):
        parameter("COD_Cr")


def test_tracer_names_map_to_their_gb3097_parameters():
    for tracer in ("DIN", "PO4", "COD", "oil"):
        assert TRACER_PARAMETERS[tracer] == tracer
    assert parameter("DIP").key == "PO4"


@pytest.mark.parametrize("key", ["DIN", "PO4", "COD", "oil"])
def test_value_at_a_limit_is_in_that_class_and_just_above_is_in_the_next_limit_up(key):
    # "≤ limit": equal means within; 1e-4 relative above (100x the 1e-6 float32 tolerance) is out.
    lims = PINNED[key]
    for k, lim in enumerate(lims, start=1):
        best = 1 + next(i for i, v in enumerate(lims) if v == lim)  # shared limits: best class
        assert classify(lim, key) == best
        above = lim * (1 + 1e-4)
        expected = 1 + next((i for i, v in enumerate(lims) if v >= above), 4)
        assert classify(above, key) == expected, (key, k)


def test_shared_limits_favour_the_better_class():
    # oil: Class I and II share 0.05 -> 0.05 is Class I; PO4: II and III share 0.030 -> II, and
    # anything above 0.030 skips Class III straight to IV
    assert classify(0.05, "oil") == 1
    assert classify(0.030, "PO4") == 2
    assert classify(0.0301, "PO4") == 4
    assert classify(0.0451, "PO4") == 5


def test_dissolved_oxygen_needs_strictly_more_than_the_limit():
    # DO > 6 is Class I; exactly 6 is Class II; exactly 3 is worse than Class IV
    do = np.array([6.01, 6.0, 5.0, 4.0, 3.0001, 3.0, 1.0])
    assert classify(do, "DO").tolist() == [1, 2, 3, 4, 4, 5, 5]


def test_ph_outside_both_ranges_is_worse_than_class_4():
    ph = np.array([8.1, 7.8, 8.5, 8.6, 6.8, 8.8, 6.7, 8.9])
    assert classify(ph, "pH").tolist() == [1, 1, 1, 3, 3, 3, 5, 5]


def test_non_ionic_ammonia_has_one_limit_for_all_classes():
    assert classify(np.array([0.02, 0.021]), "NH3").tolist() == [1, 5]


def test_float32_storage_does_not_push_a_value_over_its_limit():
    # float32(0.3) = 0.30000001192..., within the 1e-6 relative tolerance of the DIN Class II limit
    assert classify(np.float32(0.3), "DIN") == 2
    assert classify(np.float32(0.05), "oil") == 1


def test_nan_is_class_zero_and_output_is_int8_of_the_input_shape():
    c = np.array([[0.1, np.nan], [0.6, 0.35]])
    k = classify(c, "DIN")
    assert k.dtype == np.int8 and k.shape == (2, 2)
    assert k.tolist() == [[1, NO_VALUE], [5, 3]]


def test_dataarray_in_dataarray_out_with_flag_attributes():
    da = xr.DataArray([0.01, 0.02], dims="x", coords={"x": [0, 1]}, name="PO4")
    k = classify(da, "PO4")
    assert isinstance(k, xr.DataArray) and k.dims == ("x",)
    assert k.values.tolist() == [1, 2]
    assert "flag_values" in k.attrs


def test_overall_class_is_the_worst_single_factor_and_ignores_missing_values():
    din = classify(np.array([0.1, 0.1, np.nan, np.nan]), "DIN")  # 1, 1, 0, 0
    po4 = classify(np.array([0.02, 0.05, 0.01, np.nan]), "PO4")  # 2, 5, 1, 0
    assert overall_class({"DIN": din, "PO4": po4}).tolist() == [2, 5, 1, 0]
    with pytest.raises(ValueError):
        overall_class({})


def test_unknown_names_and_classes_give_helpful_errors():
    with pytest.raises(StandardsError, match="did you mean"):
        parameter("DIM")
    with pytest.raises(StandardsError, match="1..4"):
        limit("DIN", 5)


def test_text_table_lists_every_parameter():
    text = standards.table()
    for key in PARAMETERS:
        assert f"\n{key} " in text
