"""Allowable loads of a config on the evaluation basis: response, programme, verification, report.

`capacity_on_evaluation_basis` is what ``bbw-bay capacity`` computes by default: the model
`bbw-bay run` runs (`bbw_bay.gulf.assemble.build(config)`: the config's own flow cycle, scheme,
monthly loads), the tagged-tracer response of the time-mean field
(`bbw_bay.control.evaluation_response`, cached), the cell-wise programme of each tracer
(`bbw_bay.control.capacity_milp`), and the verification of every answer by the forward run +
`evaluate` (re-solved on the forward run up to three times). The `EvaluationCapacityRun` it
returns prints its table, writes its CSV, netCDF and scenario file, each naming its basis.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from bbw_bay.control.capacity import ROMAN, check_options
from bbw_bay.control.capacity_milp import (
    BINDING_RTOL,
    SAFETY,
    CellResult,
    build_cell_problem,
    evaluation_capacity,
)
from bbw_bay.control.evaluation_response import (
    EvaluationResponse,
    basis_line,
    evaluation_response,
)
from bbw_bay.control.response import select_sources
from bbw_bay.core.config import Config, load_config
from bbw_bay.core.output import add_provenance
from bbw_bay.gulf.assemble import Setup, build
from bbw_bay.quality.receptors import Receptor, receptors_for, zone_receptors
from bbw_bay.quality.standards import TRACER_PARAMETERS
from bbw_bay.quality.zones import Zone


@dataclass(eq=False)
class EvaluationCapacityRun:
    """Allowable loads of a config on the evaluation basis, one `CellResult` per tracer."""

    config: Config
    setup: Setup
    receptors: tuple[Receptor, ...]
    controlled: list[int]
    overrides: tuple[str, ...] = ()
    responses: list[EvaluationResponse] = field(default_factory=list)
    results: list[CellResult] = field(default_factory=list)
    build_seconds: float = 0.0
    response_seconds: list[float] = field(default_factory=list)
    solve_seconds: list[float] = field(default_factory=list)

    @property
    def infeasible(self) -> int:
        """Number of tracers without an answer (``bbw-bay capacity`` exits 3)."""
        return sum(1 for r in self.results if not r.feasible)

    def table(self) -> str:
        """The report of ``bbw-bay capacity``: per tracer its basis, loads, targets, checks."""
        parts = [
            result_table(r, resp) for r, resp in zip(self.results, self.responses, strict=True)
        ]
        parts.append(self.summary())
        return "\n\n".join(parts)

    def summary(self) -> str:
        model = self.setup.model
        times = ", ".join(
            f"{r.problem.tracer}: response {a:.1f} s{' (cache)' if resp.cached else ''}, "
            f"programme + verification {b:.1f} s"
            for r, resp, a, b in zip(
                self.results, self.responses, self.response_seconds, self.solve_seconds, strict=True
            )
        )
        return (
            f"{len(self.receptors)} constrained receptors, {len(self.controlled)} controlled of "
            f"{len(model.sources)} sources; build {self.build_seconds:.1f} s; {times}"
        )

    def rows(self) -> list[dict]:
        """One row per (tracer, controlled source), with the basis."""
        out = []
        for r, resp in zip(self.results, self.responses, strict=True):
            for k in resp.controlled:
                out.append(
                    {
                        "tracer": resp.tracer,
                        "source": resp.sources[k],
                        "today_t_per_yr": float(resp.today[k]),
                        "allowable_t_per_yr": float(r.allowable[k]),
                        "cut_percent": _cut(resp.today[k], r.allowable[k]),
                        "mode": r.problem.mode,
                        "status": r.status,
                        "basis": basis_line(resp.basis),
                    }
                )
        return out

    def write_csv(self, path: str | os.PathLike) -> Path:
        """The source rows as CSV (each row names its basis)."""
        path = Path(path)
        rows = self.rows()
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["tracer"])
            writer.writeheader()
            writer.writerows(rows)
        return path

    def dataset(self, *, inputs: Mapping | None = None) -> xr.Dataset:
        """Allowable loads (tracer, source) with the basis, targets and verification in attrs."""
        resp0 = self.responses[0]
        names = [resp0.sources[k] for k in resp0.controlled]
        tracers = [r.problem.tracer for r in self.results]
        allow = np.array([r.allowable[resp0.controlled] for r in self.results])
        today = np.array([resp.today[resp.controlled] for resp in self.responses])
        ds = xr.Dataset(
            {
                "today": (("tracer", "source"), today, {"units": "t yr-1"}),
                "allowable": (("tracer", "source"), allow, {"units": "t yr-1"}),
            },
            coords={"tracer": tracers, "source": names},
        )
        ds.attrs["title"] = "bbw_bay allowable loads on the evaluation basis (HiGHS MILP/LP)"
        for r, resp in zip(self.results, self.responses, strict=True):
            t = resp.tracer
            ds.attrs[f"basis_{t}"] = basis_line(resp.basis)
            ds.attrs[f"status_{t}"] = r.status
            ds.attrs[f"linearity_{t}"] = json.dumps(resp.linearity.__dict__)
            ds.attrs[f"targets_{t}"] = json.dumps(r.per_target)
            ds.attrs[f"verification_{t}"] = json.dumps(
                [{k: v for k, v in h.items() if k != "rows"} for h in r.history]
            )
        return add_provenance(
            ds, config_text=self.config.text, settings=self.setup.model.settings(), inputs=inputs
        )

    def write_scenario(self, path: str | os.PathLike) -> Path:
        """The answer as a scenario file (configs/scenarios format, ``run.mode = "evaluation"``)
        that ``bbw-bay scenarios PATH`` re-runs on the same basis."""
        path = Path(path)
        base = os.path.relpath(Path(self.config.path).resolve(), path.resolve().parent)
        ops = []
        for r, resp in zip(self.results, self.responses, strict=True):
            if not r.feasible:
                continue
            for k in resp.controlled:
                if resp.today[k] > 0:
                    factor = float(r.allowable[k] / resp.today[k])
                    ops.append(
                        f'  {{ op = "scale", source = {json.dumps(resp.sources[k])}, '
                        f'tracer = "{resp.tracer}", factor = {factor!r} }},'
                    )
        bases = sorted({basis_line(resp.basis) for resp in self.responses})
        modes = sorted({r.problem.mode for r in self.results})
        lines = [
            "# Written by bbw-bay capacity: the allowable loads on the evaluation basis",
            *(f"# basis: {b}" for b in bases),
            f"#   bbw-bay scenarios {path.name}",
            f'title = "Allowable loads ({", ".join(modes)}), evaluation basis"',
            f"base = {json.dumps(Path(base).as_posix())}",
            f"set = {json.dumps(list(self.overrides))}",
            "",
            "[run]",
            'mode = "evaluation"',
            "",
            "[[scenario]]",
            f'name = "allowable loads ({", ".join(modes)})"',
            'description = "every controlled source at its allowable load"',
            f"basis = {json.dumps('bbw-bay capacity, evaluation basis: ' + '; '.join(bases))}",
            "operations = [",
            *ops,
            "]",
            "",
        ]
        path.write_text("\n".join(lines), encoding="utf-8")
        return path


def _cut(today: float, allowable: float) -> float:
    return float(100.0 * (today - allowable) / today) if today > 0 else float("nan")


def result_table(r: CellResult, resp: EvaluationResponse) -> str:
    """Plain-text report of one tracer: basis, sources, targets, linearity, verification."""
    p = r.problem
    lines = [
        f"{resp.tracer} allowable loads ({p.mode}) on the evaluation basis: "
        f"{basis_line(resp.basis)}",
        f"  {r.status}",
    ]
    lines += [f"  - {e}" for e in r.explanations]
    if r.feasible:
        lines.append(f"  {'source':<22}{'today t/yr':>12}{'allowable':>12}{'cut':>9}")
        for k in resp.controlled:
            lines.append(
                f"  {resp.sources[k]:<22}{resp.today[k]:>12,.1f}{r.allowable[k]:>12,.1f}"
                f"{_cut(resp.today[k], r.allowable[k]):>8.1f}%"
            )
        lines.append(
            f"  {'target':<34}{'class':>6}{'limit':>8}{'need':>7}{'pred max':>10}"
            f"{'run max':>9}{'run share':>10}  result"
        )
        for t, s in zip(p.targets, r.per_target, strict=True):
            share = s.get("forward_share", float("nan"))
            lines.append(
                f"  {t.name[:33]:<34}{ROMAN[t.target_class]:>6}{t.limit:>8.4g}"
                f"{100 * t.share:>6.1f}%{s['predicted_max']:>10.4g}"
                f"{s.get('forward_max', float('nan')):>9.4g}"
                f"{100 * share:>9.2f}%  "
                + ("PASS" if s.get("passed") else "-")
                + (" binding" if s.get("binding") else "")
            )
    lin = resp.linearity
    lines.append(
        f"  MC linearity (sum of tags vs the run's land-based excess): max error "
        f"{lin.max_abs:.2e} mg/L = {lin.max_rel_excess:.2e} of the largest excess; "
        f"{lin.max_rel_cell:.2e} of the local excess where it is >= 1 % of its maximum; "
        f"zone means {lin.max_zone_mean_rel:.2e}"
    )
    if r.history:
        last = r.history[-1]
        lines.append(
            f"  verified by forward run + evaluate ({len(r.history)} run(s), "
            f"{len(r.history) - 1} re-solve(s)): {'PASS' if last['passed'] else 'FAIL'}; "
            f"prediction error of the last answer {last['max_relative_prediction_error']:.1e} "
            f"of the limit; constraints {SAFETY:.0e} below each limit, binding zones within "
            f"{BINDING_RTOL:.0%} of it"
        )
    return "\n".join(lines)


def _default_receptors(grid, points, zones, selector) -> list[Receptor]:
    """The receptors of `receptors_for`; on a cartesian grid without files: the whole domain
    as one Class II zone (as `bbw-bay scenarios` evaluates it)."""
    if not grid.geographic and points is None and zones is None:
        zone = Zone(
            key="domain", mask=np.asarray(grid.wet, bool), target_class=2, name="whole domain"
        )
        return zone_receptors(grid, [zone])
    return receptors_for(grid, points=points, zones=zones, selector=selector)


def capacity_on_evaluation_basis(
    config: Config | str | os.PathLike,
    *,
    overrides: Sequence[str] = (),
    tracers: str | Sequence[str] | None = None,
    sources: str | Sequence[str] | None = None,
    mode: str = "min-reduction",
    growth: float = 0.2,
    points: str | os.PathLike | None = None,
    zones: str | os.PathLike | None = None,
    receptor_selector: str | None = None,
    receptors: Sequence[Receptor] | None = None,
    shares: Mapping[str, float] | None = None,
    target_class: int | None = None,
    cache: str | os.PathLike | bool | None = True,
    verify: bool = True,
) -> EvaluationCapacityRun:
    """Allowable loads (环境容量) on the evaluation basis, verified by forward run + evaluate.

    Parameters
    ----------
    config : a `Config` or a config path (read with ``overrides``)
    tracers : tracer(s) with a GB 3097 upper limit (default every such tracer of the model)
    sources : controlled sources (names or fields, e.g. ``"province=Guangxi,kind=river"``)
    mode : "max", "min-reduction" or "uniform" (as `bbw_bay.control.capacity`)
    growth : "max" mode: loads may reach (1 + growth) × today's [-]
    points, zones, receptor_selector, receptors : the constrained receptors (as
        `receptors_for`); a zone constrains every wet cell, a point its cell
    shares : {zone receptor key ("zone:<key>" or "<key>"): area share [0..1] in class}: the
        优良水质比例 form (a MILP); zones not named: every cell
    target_class : one class for every receptor (default each one's own)
    cache : response cache folder; True: the default (`default_cache_dir`); None: none
    verify : verify (and re-solve) by forward runs + evaluate

    Raises
    ------
    `bbw_bay.control.capacity_milp.CapacityVerificationError` when an answer fails its forward
    run + evaluate after the re-solves.
    """
    check_options(mode=mode, growth=growth)
    if not isinstance(config, Config):
        config = load_config(config, list(overrides))
    t0 = time.perf_counter()
    setup = build(config)
    model = setup.model
    if receptors is None:
        receptors = _default_receptors(model.grid, points, zones, receptor_selector)
    controlled = select_sources(model, sources)
    names = (
        [t for t in model.names if t in TRACER_PARAMETERS]
        if tracers is None
        else ([tracers] if isinstance(tracers, str) else list(tracers))
    )
    run = EvaluationCapacityRun(config, setup, tuple(receptors), controlled, tuple(overrides))
    steady = functools.cache(lambda: build(config, steady=True).model)  # for a steady start
    run.build_seconds = time.perf_counter() - t0
    for tracer in names:
        t1 = time.perf_counter()
        response = evaluation_response(
            model, config, tracer=tracer, controlled=controlled, cache=cache, steady_model=steady
        )
        masks = [_mask(model.grid, r) for r in receptors if r.kind == "zone"]
        response = _with_zone_linearity(response, masks)
        t2 = time.perf_counter()
        problem = build_cell_problem(
            response,
            receptors,
            model.grid,
            mode=mode,
            growth=growth,
            shares=dict(shares or {}),
            target_class=target_class,
        )
        result = evaluation_capacity(problem, model, config, verify=verify, steady_model=steady)
        run.responses.append(response)
        run.results.append(result)
        run.response_seconds.append(t2 - t1)
        run.solve_seconds.append(time.perf_counter() - t2)
    return run


def _mask(grid, receptor: Receptor) -> np.ndarray:
    mask = np.zeros(grid.shape, bool)
    mask[receptor.cells[:, 0], receptor.cells[:, 1]] = True
    return mask


def _with_zone_linearity(response: EvaluationResponse, masks) -> EvaluationResponse:
    from dataclasses import replace

    return replace(response, linearity=response.zone_linearity(masks))


__all__ = ["EvaluationCapacityRun", "capacity_on_evaluation_basis", "result_table"]
