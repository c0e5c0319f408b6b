"""The notebook entry points of the quality and control layers are public and documented.

``import bbw_bay as bb`` exports them (issue #12); each carries a numpydoc docstring with its
parameters (with units), what it returns and an example, so ``help(bb.allowable_loads)`` answers
a notebook user.
"""

from __future__ import annotations

import inspect
import re

import pytest

import bbw_bay as bb
from bbw_bay.control import (
    apportion,
    capacity,
    capacity_report,
    capacity_run,
    scenario_compare,
    scenarios,
)
from bbw_bay.quality import evaluate, receptors, zones

#: facade name -> the library object it must be (one home per operation)
ENTRY_POINTS = {
    "evaluate": evaluate.evaluate,
    "evaluation_table": evaluate.evaluation_table,
    "load_zones": zones.load_zones,
    "receptors_for": receptors.receptors_for,
    "run_scenarios": scenarios.run_scenarios,
    "comparison_table": scenario_compare.comparison_table,
    "apportion": apportion.apportion,
    "apportionment_table": apportion.apportionment_table,
    "allowable_loads": capacity.allowable_loads,
    "capacity_table": capacity_report.capacity_table,
    "capacity_dataset": capacity_report.capacity_dataset,
    "verify_allowable_loads": capacity_report.verify,
    "capacity_from_config": capacity_run.capacity_from_config,
}


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_entry_point_is_exported_with_a_numpydoc_docstring(name):
    assert name in bb.__all__ and getattr(bb, name) is ENTRY_POINTS[name]
    doc = inspect.getdoc(ENTRY_POINTS[name]) or ""
    for section in ("Parameters\n----------", "Returns\n-------", "Examples\n--------"):
        assert section in doc, f"bb.{name}: no {section.splitlines()[0]} section"
    section = doc.split("Parameters\n----------")[1].split("Returns\n-------")[0]
    # "name : text" entries, several names sharing one ("points, zones : ...")
    documented = {
        part.strip()
        for line in section.splitlines()
        if (head := re.match(r"^([\w, ]+) : ", line))
        for part in head.group(1).split(",")
    }
    missing = set(inspect.signature(ENTRY_POINTS[name]).parameters) - documented
    assert not missing, f"bb.{name}: parameters without a description: {sorted(missing)}"
