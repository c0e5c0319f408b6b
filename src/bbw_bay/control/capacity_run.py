"""Allowable loads of a config: models per season, receptors, the LP per tracer, verification.

`capacity_from_config` is what ``bbw-bay capacity`` computes: it builds the steady model of each
season (`bbw_bay.gulf.assemble.build`), the receptors of the control-point and zone files
(`bbw_bay.quality.receptors.receptors_for`), solves `bbw_bay.control.capacity.allowable_loads`
for every tracer on one factorisation per season and decay rate, and checks every answer by a
forward steady run (`bbw_bay.control.capacity_report.verify`). The `CapacityRun` it returns holds
everything the command prints or writes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import xarray as xr

from bbw_bay.control.capacity import CapacityResult, allowable_loads, check_options
from bbw_bay.control.capacity_report import (
    capacity_dataset,
    capacity_table,
    verification_line,
    verify,
)
from bbw_bay.control.response import Factorisations, select_sources
from bbw_bay.core.config import Config, load_config
from bbw_bay.core.model import Model
from bbw_bay.core.output import add_provenance
from bbw_bay.gulf.assemble import build
from bbw_bay.quality.receptors import Receptor, receptors_for
from bbw_bay.quality.standards import TRACER_PARAMETERS


@dataclass(eq=False)
class CapacityRun:
    """The allowable loads of a config for one or more tracers, with their verification.

    Attributes
    ----------
    config : the resolved config
    models : {season label: steady model}
    receptors : the constraining receptors (the same in every season)
    controlled : indices of the controlled sources
    results : one `CapacityResult` per tracer
    checks : per result, the `verify` answer (None: no answer to check, or not verified)
    build_seconds, solve_seconds : wall time of building the models and receptors, and of the
        coefficients, LPs and checks [s]
    """

    config: Config
    models: dict[str, Model]
    receptors: tuple[Receptor, ...]
    controlled: list[int]
    results: list[CapacityResult] = field(default_factory=list)
    checks: list[dict | None] = field(default_factory=list)
    build_seconds: float = 0.0
    solve_seconds: float = 0.0

    @property
    def failures(self) -> int:
        """Number of answers whose forward run exceeded a limit (``bbw-bay capacity`` exits 1)."""
        return sum(1 for check in self.checks if check is not None and not check["passed"])

    def table(self, *, all_sources: bool = False) -> str:
        """Plain-text report: per tracer `capacity_table` and the forward check, then `summary`."""
        lines = []
        for result, check in zip(self.results, self.checks, strict=True):
            lines.append(capacity_table(result, all_sources=all_sources))
            if check is not None:
                lines.append(verification_line(check))
        return "\n".join([*lines, self.summary()])

    def summary(self) -> str:
        """One line: seasons, receptors, controlled sources and the wall times."""
        first = next(iter(self.models.values()))
        return (
            f"{len(self.models)} season(s), {len(self.receptors)} receptors, "
            f"{len(self.controlled)} controlled of {len(first.sources)} sources; build "
            f"{self.build_seconds:.1f} s, coefficients + LP + checks {self.solve_seconds:.1f} s"
        )

    def datasets(self) -> list[xr.Dataset]:
        """`capacity_dataset` of each result, its verification summary in attrs["verification"]."""
        out = []
        for result, check in zip(self.results, self.checks, strict=True):
            ds = capacity_dataset(result)
            if check is not None:
                ds.attrs["verification"] = json.dumps(
                    {k: v for k, v in check.items() if k != "rows"}
                )
            out.append(ds)
        return out

    def dataset(self, *, inputs: dict | None = None) -> xr.Dataset:
        """Every tracer's result along ``tracer``, with the config, the model settings and
        ``inputs`` (checksums of the input files) as provenance."""
        datasets = self.datasets()
        tracers = [ds.attrs["tracer"] for ds in datasets]
        ds = xr.concat(datasets, dim="tracer", coords="minimal", combine_attrs="drop")
        ds = ds.assign_coords(tracer=tracers)
        for item in datasets:
            for key in ("status", "explanations", "verification", "mode", "growth"):
                if key in item.attrs:
                    ds.attrs[f"{key}_{item.attrs['tracer']}"] = item.attrs[key]
        ds.attrs["title"] = "bbw_bay allowable loads (response-coefficient method, HiGHS LP)"
        first = next(iter(self.models.values()))
        return add_provenance(
            ds, config_text=self.config.text, settings=first.settings(), inputs=inputs
        )


def capacity_from_config(
    config: Config | str | os.PathLike,
    *,
    overrides: Sequence[str] = (),
    tracers: str | Sequence[str] | None = None,
    sources: str | Sequence[str] | None = None,
    mode: str = "max",
    growth: float = 0.2,
    seasons: str | Sequence[str] | None = None,
    points: str | os.PathLike | None = None,
    zones: str | os.PathLike | None = None,
    receptor_selector: str | None = None,
    receptors: Sequence[Receptor] | None = None,
    target_class: int | None = None,
    skip_unattainable: bool = False,
    verify_answers: bool = True,
) -> CapacityRun:
    """Allowable loads (环境容量) of a config's sources for every tracer, verified.

    Parameters
    ----------
    config : a `Config`, or the path of a config file (read with ``overrides``)
    overrides : "section.key=value" config overrides for a path (as ``--set``)
    tracers : tracer name(s) with a GB 3097 upper limit (default every tracer of the model that
        has a GB 3097 parameter)
    sources : controlled sources: names or fields (``"province=Guangxi,kind=river"``; default
        all); the others stay at today's loads
    mode : "max" (largest total allowable load), "min-reduction" (smallest total cut) or
        "uniform" (smallest equal-percentage cut)
    growth : "max" mode: loads may reach (1 + growth) × today's [-] (inf: no bound)
    seasons : a season or several (their constraints are stacked); None: the config's steady
        flow, labelled "annual"
    points, zones : control-points and zones files (None: the shipped ones on lon/lat grids;
        zones ``"none"``: no zone receptors), see `bbw_bay.quality.receptors.receptors_for`
    receptor_selector : keep only these receptors (keys or fields, e.g. ``"province=Guangxi"``)
    receptors : the receptors themselves (instead of points, zones and receptor_selector)
    target_class : one GB 3097 class (1..4) for every receptor (default each receptor's own)
    skip_unattainable : leave out receptors that background and fixed sources alone exceed
    verify_answers : check every answer by a forward steady run of each season's model

    Returns
    -------
    CapacityRun: ``results`` (one `CapacityResult` per tracer), ``checks`` (the verification of
    each), the models and receptors; ``table()`` is the report of ``bbw-bay capacity``,
    ``dataset()`` its netCDF content, ``failures`` the answers that failed verification

    Examples
    --------
    >>> run = capacity_from_config("configs/beibu_gulf.toml", tracers="DIN",
    ...                            sources="province=Guangxi,kind=river",
    ...                            mode="min-reduction", seasons=["winter", "summer"])
    ... # doctest: +SKIP
    >>> print(run.table())  # doctest: +SKIP
    """
    check_options(mode=mode, growth=growth)
    if not isinstance(config, Config):
        config = load_config(config, list(overrides))
    chosen = [seasons] if isinstance(seasons, str) or seasons is None else list(seasons)
    t0 = time.perf_counter()
    models = {s or "annual": build(config, season=s, steady=True).model for s in chosen}
    first = next(iter(models.values()))
    if receptors is None:
        receptors = receptors_for(
            first.grid, points=points, zones=zones, selector=receptor_selector
        )
    controlled = select_sources(first, sources)
    names = (
        [t for t in first.names if t in TRACER_PARAMETERS]
        if tracers is None
        else ([tracers] if isinstance(tracers, str) else list(tracers))
    )
    factors = {label: Factorisations(model) for label, model in models.items()}
    run = CapacityRun(config, models, tuple(receptors), controlled)
    built = time.perf_counter()
    for tracer in names:
        result = allowable_loads(
            models,
            tracer=tracer,
            receptors=run.receptors,
            sources=sources,
            mode=mode,
            growth=growth,
            target_class=target_class,
            skip_unattainable=skip_unattainable,
            factors=factors,
        )
        run.results.append(result)
        run.checks.append(verify(models, result) if result.feasible and verify_answers else None)
    run.build_seconds = built - t0
    run.solve_seconds = time.perf_counter() - built
    return run


__all__ = ["CapacityRun", "capacity_from_config"]
