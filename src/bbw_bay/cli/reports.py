"""The tables ``bbw-bay`` prints: mass budgets, zone evaluations, residence times, checks."""

from __future__ import annotations

import numpy as np

from bbw_bay.units import YEAR


def run_summary(statistics, path, wall: float) -> str:
    """Steps, time step, wall time and the mass budget [t] of a run."""
    stats = statistics
    lines = [
        f"wrote {path}" if path else "done",
        f"  steps {stats.steps}, dt {stats.dt_min:.4g}–{stats.dt_max:.4g} s, "
        f"wall time {wall:.2f} s",
        "  mass budget [t]:   loads in   boundary in   decayed   storage change   imbalance",
    ]
    for name, b in stats.budget.items():
        change = b["final_g"] - b["initial_g"]
        lines.append(
            f"    {name:<8} {b['loads_in_g'] / 1e6:12.4g} {b['boundary_in_g'] / 1e6:13.4g} "
            f"{b['decayed_g'] / 1e6:9.4g} {change / 1e6:16.4g} {b['imbalance_g'] / 1e6:11.2e}"
        )
    lines.append(f"  largest relative imbalance {stats.max_relative_imbalance:.2e}")
    lines.extend(storage_change_lines(stats))
    lines.extend(region_budget_lines(stats.region_budget))
    return "\n".join(lines)


#: Storage change over the evaluated period, as a share of its load, below which it is settled.
SETTLED = 0.01


def storage_change_lines(stats) -> list[str]:
    """The spin-up (not written) and each tracer's storage change over the evaluated period as a
    share of its load: below 1 % the evaluated period is settled."""
    lines = []
    if stats.spinup_steps:
        change = {
            name: (b["final_g"] - b["initial_g"]) / 1e6 for name, b in stats.spinup_budget.items()
        }
        lines.append(
            f"  spin-up (not written): {stats.spinup_steps} steps; storage change [t] "
            + ", ".join(f"{name} {value:.4g}" for name, value in change.items())
        )
    shares = {k: v for k, v in stats.storage_change_of_load.items() if np.isfinite(v)}
    if shares:
        worst = max(abs(v) for v in shares.values())
        verdict = "settled" if worst < SETTLED else "NOT settled: lengthen run.spinup_days"
        lines.append(
            "  storage change over the evaluated period, % of its load: "
            + ", ".join(f"{name} {100 * v:+.2f}" for name, v in shares.items())
            + f" ({verdict}, limit {100 * SETTLED:g} %)"
        )
    return lines


def region_budget_lines(budget: dict) -> list[str]:
    """The monitored region's (the gulf proper's) budget [t]: loads, decay, inflow per section."""
    if not budget:
        return []
    first = next(iter(budget.values()))
    sections = [k[len("inflow_") : -len("_g")] for k in first if k.startswith("inflow_")]
    header = "".join(f"{'in: ' + s:>22}" for s in sections)
    lines = [
        "  gulf proper budget [t] (inflow > 0 into the gulf):",
        f"    {'tracer':<8}{'loads in':>11}{'decayed':>11}{header}{'storage change':>16}"
        f"{'imbalance':>11}",
    ]
    for name, b in budget.items():
        flows = "".join(f"{b[f'inflow_{s}_g'] / 1e6:22.4g}" for s in sections)
        change = (b["final_g"] - b["initial_g"]) / 1e6
        lines.append(
            f"    {name:<8}{b['loads_in_g'] / 1e6:11.4g}{b['decayed_g'] / 1e6:11.4g}{flows}"
            f"{change:16.4g}{b['imbalance_g'] / 1e6:11.2e}"
        )
    return lines


def steady_budget_lines(budget: dict) -> list[str]:
    """A steady state's budget [t/yr]: loads in, boundary in, decay, relative imbalance."""
    lines = ["  mass budget [t/yr]: loads in   boundary in   decayed   relative imbalance"]
    f = YEAR / 1e6
    for name, b in budget.items():
        lines.append(
            f"    {name:<8} {b['loads_in_g_per_s'] * f:10.4g} "
            f"{b['boundary_in_g_per_s'] * f:13.4g} {b['decayed_g_per_s'] * f:9.4g} "
            f"{b['relative_imbalance']:12.2e}"
        )
    return lines


def evaluation_lines(ds) -> list[str]:
    """GB 3097 class shares per zone and the zone means of ages and tags (lon/lat outputs)."""
    if not ds.attrs.get("geographic"):
        return []
    from bbw_bay.quality.evaluate import evaluate, evaluation_table

    return [evaluation_table(evaluate(ds)), *diagnostic_zone_mean_lines(ds)]


def diagnostic_zone_mean_lines(ds) -> list[str]:
    """Per-zone means of water age [days] and of tagged-tracer contributions [mg/L]."""
    from bbw_bay.quality.evaluate import zone_means

    ages = [v for v in ds.data_vars if str(v).endswith("_mean_days")]
    tags = [v for v in ds.data_vars if "@" in str(v)]
    lines = []
    for names, what in (
        (ages, "mean age since release [days]"),
        (tags, "tagged contributions, time mean [mg/L]"),
    ):
        if not names:
            continue
        table = zone_means(ds, names)
        lines.append(f"zone means of {what}:")
        lines.append(f"  {'zone':<22}" + "".join(f"{str(n)[:24]:>26}" for n in names))
        for zone in table["zone"].values:
            row = table.sel(zone=zone).values
            lines.append(f"  {zone:<22}" + "".join(f"{x:26.4g}" for x in row))
    return lines


def residence_lines(table: dict, max_days: float) -> list[str]:
    """{season: {region: e-folding days}} as a region × season table."""
    lines = [
        "e-folding residence time [days] of a conservative tracer filling each region "
        "(steady flow, upwind, implicit Euler dt = 1 d)"
    ]
    columns = list(table)
    lines.append(f"{'region':<22}" + "".join(f"{c:>10}" for c in columns))
    for region in next(iter(table.values())):
        cells = "".join(
            f"{table[c][region]:10.1f}"
            if np.isfinite(table[c][region])
            else f"{'>' + str(int(max_days)):>10}"
            for c in columns
        )
        lines.append(f"{region:<22}{cells}")
    return lines


def superposition_lines(check: dict) -> list[str]:
    """Σ contributions + background against full steady solves, per tracer."""
    lines = ["superposition check (Σ contributions + background vs full steady solves):"]
    for name, c in check["tracers"].items():
        line = (
            f"  {name:<5} vs upwind full solve: max |diff| {c['upwind_max_abs_diff']:.2e} mg/L"
            f" (relative {c['upwind_max_rel_diff']:.1e})"
        )
        if "scheme_error" in c:
            line += f"; {check['advection']} steady state failed: {c['scheme_error']}"
        elif check["advection"] != "upwind":
            line += (
                f"; vs the {check['advection']} steady state: max |diff| "
                f"{c['scheme_max_abs_diff']:.3g} mg/L, largest relative "
                f"{100 * c['scheme_max_rel_diff']:.1f} % (at {c['scheme_worst_receptor']})"
            )
        lines.append(line)
    return lines
