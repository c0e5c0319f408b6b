"""Observation files: the shipped table is cited and readable; a bad row says where and what."""

from __future__ import annotations

import re

import pytest

from bbw_bay.quality.observations import (
    COLUMNS,
    ObservationError,
    default_path,
    kind_of,
    read_observations,
)
from tests.conftest import REPO

HEADER = ",".join(COLUMNS)
GOOD = "r1,S1,108.6,21.7,2021-01-01,2021-01-31,surface,DIN,0.3,mg/L as N,0.1,a note"


def write(tmp_path, *lines, header=HEADER):
    path = tmp_path / "obs.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_shipped_file_has_sixty_cited_rows_covering_the_four_coasts():
    rows = read_observations()
    assert len(rows) >= 60  # issue 17: at least 60 cited rows
    assert len({r.id for r in rows}) == len(rows)
    readme = (REPO / "forcing" / "OBSERVATIONS.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"\*\*(S\d+)\*\*", readme))
    assert {r.source for r in rows} <= listed, "every row's source is in the reference list"
    assert all(r.note for r in rows), "every row says where its number is"
    boxes = {  # lon0, lon1, lat0, lat1 [degrees]: rough boxes of each coast
        "Guangxi": (108.0, 109.8, 21.4, 22.0),
        "Guangdong": (110.0, 112.0, 20.8, 21.8),
        "Hainan": (108.5, 111.0, 19.0, 20.2),
        "open gulf": (107.0, 108.5, 17.5, 20.5),
    }
    for coast, (x0, x1, y0, y1) in boxes.items():
        assert any(x0 <= r.lon <= x1 and y0 <= r.lat <= y1 for r in rows), coast


def test_shipped_half_exchange_rows_are_labelled_as_such():
    rows = read_observations(default_path())
    for r in rows:
        if r.note.startswith("HALF-EXCHANGE"):
            assert r.variable == "half_exchange_days"
        elif r.kind == "flushing":
            assert r.variable == "residence_days"


def test_units_are_converted_to_the_model_units(tmp_path):
    path = write(
        tmp_path,
        "a,S1,108.6,21.7,2021-01-01,2021-01-31,,DIN,10,umol/L,2,",
        "b,S1,108.6,21.7,2021-01-01,2021-01-31,,PO4,1,umol/L,,",
        "c,S1,108.6,21.7,2021-01-01,2021-01-31,,K1_amplitude,90,cm,,",
    )
    din, po4, k1 = read_observations(path)
    # µmol/L -> mg/L as N or P: molar masses 14.007 and 30.974 g/mol
    assert din.value == pytest.approx(0.14007, rel=1e-12)
    assert din.uncertainty == pytest.approx(0.028014, rel=1e-12)
    assert din.unit == "mg/L as N" and din.original_unit == "umol/L"
    assert po4.value == pytest.approx(0.030974, rel=1e-12)
    assert k1.value == pytest.approx(0.9, rel=1e-12) and k1.unit == "m"


def test_a_row_gets_its_kind_and_days(tmp_path):
    (row,) = read_observations(write(tmp_path, GOOD))
    assert row.kind == "concentration" and row.days == 31
    assert kind_of("K1_phase") == "tide_phase" and kind_of("silicate") == "other"


@pytest.mark.parametrize(
    ("line", "column", "expected"),
    [
        ("r1,S1,108.6,21.7,2021-13-01,2021-01-31,,DIN,0.3,mg/L,,", "start", "ISO date"),
        ("r1,S1,108.6,21.7,2021-02-01,2021-01-31,,DIN,0.3,mg/L,,", "end", "on or after"),
        ("r1,S1,east,21.7,2021-01-01,2021-01-31,,DIN,0.3,mg/L,,", "lon", "longitude"),
        ("r1,S1,108.6,21.7,2021-01-01,2021-01-31,,DIN,0.3,kg,,", "unit", "'mg/L as N'"),
        ("r1,S1,108.6,21.7,2021-01-01,2021-01-31,,DIN,-1,mg/L,,", "value", ">= 0"),
        ("r1,S1,108.6,21.7,2021-01-01,2021-01-31,,K1_phase,400,deg,,", "value", "[0, 360]"),
        ("r1,S1,108.6,21.7,2021-01-01,2021-01-31,mid,DIN,0.3,mg/L,,", "depth", "surface"),
        ("r1,S1,108.6,21.7,2021-01-01,2021-01-31,,DIN,0.3,mg/L,lots,", "uncertainty", ">= 0"),
        ("r1,,108.6,21.7,2021-01-01,2021-01-31,,DIN,0.3,mg/L,,", "source", "publication"),
        ("r1,S1,108.6,21.7,2021-01-01,2021-01-31,,2DIN,0.3,mg/L,,", "variable", "name"),
    ],
)
def test_a_bad_row_names_file_row_column_expected_and_found(tmp_path, line, column, expected):
    path = write(tmp_path, GOOD.replace("r1", "r0"), line)
    with pytest.raises(ObservationError) as err:
        read_observations(path)
    message = str(err.value)
    assert str(path) in message
    assert "row 2 (line 3, id 'r1')" in message
    assert f"column {column!r}" in message
    assert expected in message and "found" in message


def test_duplicate_ids_and_short_rows_are_refused(tmp_path):
    with pytest.raises(ObservationError, match=r"row 2 .*column 'id'.*row 1 has the same"):
        read_observations(write(tmp_path, GOOD, GOOD))
    with pytest.raises(ObservationError, match=r"12 fields .*found 11"):
        read_observations(write(tmp_path, GOOD.rsplit(",", 1)[0]))


def test_header_problems_are_named(tmp_path):
    with pytest.raises(ObservationError, match="lacks column.*uncertainty"):
        read_observations(write(tmp_path, header=HEADER.replace(",uncertainty", "")))
    with pytest.raises(ObservationError, match="unknown column 'regoin'.*did you mean 'region'"):
        read_observations(write(tmp_path, GOOD + ",x", header=HEADER + ",regoin"))
    with pytest.raises(ObservationError, match="not found"):
        read_observations(tmp_path / "missing.csv")
    with pytest.raises(ObservationError, match="no data rows"):
        read_observations(write(tmp_path))


def test_optional_region_column_and_unknown_variables_are_kept(tmp_path):
    path = write(
        tmp_path,
        GOOD + ",gulf_proper",
        "r2,S1,108.6,21.7,2021-01-01,2021-01-31,,silicate,0.3,mg/L,,note,",
        header=HEADER + ",region",
    )
    first, second = read_observations(path)
    assert first.region == "gulf_proper" and second.region == ""
    assert second.kind == "other" and second.unit == "mg/L"
