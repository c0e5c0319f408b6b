"""Source apportionment and the superposition check (bbw_bay.control.apportion)."""

from __future__ import annotations

import numpy as np
import pytest

from bbw_bay.control.apportion import (
    apportion,
    apportionment_csv,
    apportionment_dataset,
    apportionment_table,
    contribution_maps,
    group_contributions,
    superposition_check,
)
from bbw_bay.control.response import response_coefficients, response_fields
from bbw_bay.units import TONNE_PER_YEAR
from tests.control.test_response import ROUND_OFF, bay_model, bay_receptors


def test_superposition_check_reports_round_off_for_upwind_and_the_mc_scheme_gap():
    model = bay_model(advection="mc")
    matrix = response_coefficients(model, receptors=bay_receptors(model))
    check = superposition_check(model, matrix)
    for entry in check["tracers"].values():
        assert entry["upwind_max_rel_diff"] < ROUND_OFF
        # MC and upwind steady states differ by the scheme (numerical diffusion), not round-off:
        # the check must see a gap, and on this smooth problem it stays below 50 %
        assert 1e-8 < entry["scheme_max_rel_diff"] < 0.5


def test_contribution_maps_are_today_load_times_the_unit_response():
    model = bay_model()
    maps = contribution_maps(model, sources="outfall_a")
    field = response_fields(model, tracers="DIN")[0, 1]
    expected = model.upwind_operator().to_field(field * 20.0 / TONNE_PER_YEAR)
    np.testing.assert_allclose(
        maps["DIN"].sel(source="outfall_a").values, expected, rtol=ROUND_OFF, equal_nan=True
    )


def test_group_contributions_and_tables():
    model = bay_model()
    receptors = bay_receptors(model)
    ds = apportionment_dataset(response_coefficients(model, receptors=receptors))
    by_province = group_contributions(ds, by="province")
    np.testing.assert_allclose(
        by_province.sum("source_province"), ds["contribution"].sum("source"), rtol=ROUND_OFF
    )
    text = apportionment_table(ds, by="kind")
    assert "zone:central" in text and "river" in text


def test_apportionment_csv_rows(tmp_path):
    model = bay_model()
    ds = apportionment_dataset(response_coefficients(model, receptors=bay_receptors(model)))
    path = apportionment_csv(ds, tmp_path / "a.csv")
    lines = path.read_text().splitlines()
    # header + per tracer and receptor: one background row and one row per source
    assert len(lines) == 1 + ds.sizes["tracer"] * ds.sizes["receptor"] * (1 + ds.sizes["source"])


def test_apportion_is_the_dataset_of_the_response_coefficients():
    model = bay_model()
    receptors = bay_receptors(model)
    ds = apportion(model, receptors=receptors, tracers="DIN", label="winter")
    expected = apportionment_dataset(
        response_coefficients(model, receptors=receptors, tracers="DIN")
    )
    np.testing.assert_array_equal(ds["contribution"], expected["contribution"])
    assert ds.attrs["season"] == "winter" and list(ds["tracer"].values) == ["DIN"]


def test_contribution_map_draws_one_source_on_a_log_scale():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bbw_bay.plots.maps import contribution_map

    maps = contribution_maps(bay_model(), sources="river,outfall_a")
    ax = contribution_map(maps, "outfall_a", tracer="COD")
    try:
        assert "outfall_a" in ax.get_title()
        norm = ax.collections[0].norm
        # log scale topped at the plume's peak rounded up to a nice number (≥ the peak)
        assert type(norm).__name__ == "LogNorm"
        assert norm.vmax >= float(maps["COD"].sel(source="outfall_a").max())
    finally:
        plt.close(ax.figure)
    with pytest.raises(ValueError, match="no contribution map for source 'outfall_b'"):
        contribution_map(maps, "outfall_b")
