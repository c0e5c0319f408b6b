"""The calibrated sources file: the cited inventory with calibrated loads, labelled `calibrated`.

`write_calibrated_sources` writes the inventory of a config (its ``sources.file``) with each
load that an observation informs multiplied by its posterior multiplier (`bbw_bay.control.
calibration`); every changed number's citation names the inventory value, the multiplier with
its sd, the observations and the method, and keeps the inventory's citation. A header of
comments labels the file ``calibrated`` and gives the observations (with their sha256), the
method, the skill before and after, the verdict and every informed multiplier. The file is read
back by `bbw_bay.gulf.loads.read_source_table` before it replaces anything, and it is never
written onto the inventory itself.
"""

from __future__ import annotations

import json
from pathlib import Path

from bbw_bay.control.calibration import (
    METHOD,
    PRIOR_SD,
    REPRESENTATION_ERROR,
    Calibration,
    CalibrationError,
)


def inventory_path(config):
    """Path of the config's sources file (the shipped ``forcing/sources.toml`` for "default")."""
    from bbw_bay.gulf.data import forcing_path

    file = config["sources"]["file"]
    if not file:
        raise CalibrationError(
            f"{config.path}: sources.file is empty; a calibrated sources file needs an inventory"
        )
    return forcing_path("sources.toml") if file == "default" else config.folder / file


def _toml(value) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def _calibrated_row(cal: Calibration, row: dict, label: str) -> dict:
    row = {**row, "loads_t_per_yr": dict(row["loads_t_per_yr"])}
    row["citations"] = dict(row["citations"])
    group = cal.group_of(row["name"])
    changed = []
    for tracer in list(row["loads_t_per_yr"]):
        base = "COD" if tracer == "COD_Cr" else tracer
        if (base, group) not in cal.design.parameters:
            continue
        k = cal.design.parameters.index((base, group))
        if not cal.design.informed[k]:
            continue  # no observation sees this group: it keeps its prior and its load
        mean, sd = cal.multiplier(base, group)
        load = float(row["loads_t_per_yr"][tracer])
        row["loads_t_per_yr"][tracer] = float(f"{load * mean:.6g}")
        row["citations"][tracer] = (
            f"calibrated: inventory {load:g} t/yr x posterior multiplier {mean:.3g} +- {sd:.2g} "
            f"(group {group!r}, {base}); {label}; inventory citation: {row['citations'][tracer]}"
        )
        changed.append(tracer)
    if changed:
        note = f"calibrated ({', '.join(changed)}): {label}"
        row["notes"] = f"{row['notes']} | {note}" if row.get("notes") else note
    return row


def calibrated_sources_text(cal: Calibration, config, *, observations: str, digest: str) -> str:
    """The calibrated sources file: the inventory with calibrated loads, labelled `calibrated`."""
    from bbw_bay.gulf.data import sha256
    from bbw_bay.gulf.loads import read_source_table

    inventory = inventory_path(config)
    status = "FLAGGED, NOT ADOPTED" if cal.flagged else "adopted"
    label = f"bbw-bay calibrate against {observations}"
    head = [
        "# label: calibrated",
        f"# bbw_bay calibrated sources ({status}): NOT the cited inventory.",
        f"# inventory: {inventory} (sha256 {sha256(inventory)})",
        f"# observations: {observations} (sha256 {digest}); {len(cal.design.rows)} rows used: "
        + ", ".join(o.id for o in cal.design.rows),
        f"# method: {METHOD}; groups: {cal.grouping}; priors N(1, sd^2) by citation {PRIOR_SD}; "
        f"representation error {REPRESENTATION_ERROR:g} x observed",
        f"# decay rates [1/day]: {cal.design.decay_per_day} (config: {cal.prior_decay_per_day})",
        f"# skill (mean |M-O|/sigma): inventory {cal.before['cost']:.4g}, calibrated in-sample "
        f"{cal.after['cost']:.4g}, leave-one-publication-out {cal.cross_validated['cost']:.4g}",
        f"# verdict: {cal.reason}",
        "# posterior multipliers (tracer, group: mean +- sd):",
    ]
    for k, (tracer, group) in enumerate(cal.design.parameters):
        if cal.design.informed[k]:
            mean, sd = cal.posterior.mean[k], cal.posterior.sd[k]
            head.append(f"#   {tracer}, {group}: {mean:.4g} +- {sd:.3g}")
    lines = [*head, ""]
    for row in read_source_table(None if config["sources"]["file"] == "default" else inventory):
        row = _calibrated_row(cal, row, label)
        lines.append("[[source]]")
        for key, value in row.items():
            if key not in ("loads_t_per_yr", "citations"):
                lines.append(f"{key} = {_toml(value)}")
        for table in ("loads_t_per_yr", "citations"):
            lines.extend(["", f"[source.{table}]"])
            lines.extend(f"{k} = {_toml(v)}" for k, v in row[table].items())
        lines.append("")
    return "\n".join(lines)


def check_output(path, *, config, overwrite: bool = False) -> Path:
    """``path`` as a Path if a calibrated file may be written there: CalibrationError if it is
    the config's inventory or the shipped ``forcing/sources.toml`` (whatever ``overwrite``
    says), OutputError if it exists and ``overwrite`` is False or its folder is missing."""
    from bbw_bay.core.output import check_writable
    from bbw_bay.gulf.data import forcing_path

    path = Path(path)
    protected = {inventory_path(config).resolve(), forcing_path("sources.toml").resolve()}
    if path.resolve() in protected:
        raise CalibrationError(
            f"{path} is the cited inventory; write the calibrated file elsewhere (-o FILE)"
        )
    check_writable(path, overwrite=overwrite)
    return path


def write_calibrated_sources(
    cal: Calibration, path, *, config, observations: str, digest: str, overwrite: bool = False
) -> Path:
    """Write `calibrated_sources_text` to ``path`` atomically, checked by the sources reader
    before it replaces anything; never onto the config's inventory (CalibrationError)."""
    from bbw_bay.core.output import atomic_write
    from bbw_bay.gulf.loads import read_source_table

    path = check_output(path, config=config, overwrite=overwrite)
    text = calibrated_sources_text(cal, config, observations=observations, digest=digest)

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")
        read_source_table(tmp)

    return atomic_write(path, write)


__all__ = [
    "calibrated_sources_text",
    "check_output",
    "inventory_path",
    "write_calibrated_sources",
]
