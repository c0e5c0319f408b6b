"""How a run settles before it is evaluated: the spin-up and the state it starts from.

The evaluated year of a run must not be a spin-up year: with the defaults, the storage change of
every tracer over it must stay below 1 % of its load (issue #13; `storage_change_of_load`). When
the forcing varies in time (the seasonal circulation, monthly loads or backgrounds), ``"auto"``
spins a run up for one forcing year (`AUTO_SPINUP_DAYS`) from the background before the
evaluated period; a run with steady forcing gets no spin-up (from the background it shows the
approach to the steady state that ``Model.steady_state`` gives directly; ``run.initial =
"steady"`` starts it there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bbw_bay.units import DAY, YEAR

#: Spin-up [days] of "auto" for forcing that varies in time: one forcing year, from the
#: background. Measured on configs/beibu_gulf.toml (1/30°, MC, ambient mode) by marching the
#: seasonal cycle and recording mass and loads at every month end (2 cores at load ~14; the
#: default run prints the same statistic). Storage change over the evaluated year / its load:
#: - from the background, spin-up ending at the start (1 January): 0 d 14.7 % (DIN), 365.25 d
#:   -0.013 % (PO4; DIN -0.010 %, COD and oil < 0.001 %), 2 years -0.03 %;
#: - from the steady state of the annual-mean forcing (`steady_start`): 0 d 2.5 % (COD), 60 d
#:   6.5 % (DIN: `bbw-bay run` with run.spinup_days = 60), one year -0.05 % (DIN).
#: The gulf's DIN storage swings from 15,000 t (March) to 102,000 t (August-September), 6-40 % of
#: the year's load; the annual steady state (36,600 t) matches it only around January, so a short
#: spin-up from it fails unless it starts then, and it saves nothing over the background once the
#: spin-up is a year. A spin-up of a whole forcing period shrinks any initial deviation by the
#: same factor whatever the season it starts in (the one-year propagators of different phases
#: are similar matrices): 335 for the DIN storage here (36,567 t → 109 t), so even a start at
#: the storage maximum stays near 0.1 % of the load. Shorter spin-ups that end on 1 January pass
#: from 8-9 months on (they then begin in April-May, near the storage minimum) but fail for
#: other start days; a start from the background costs no steady solve.
AUTO_SPINUP_DAYS = YEAR / DAY
#: The states a run can start from (``run.initial``).
INITIAL_STATES = ("background", "steady")


def forcing_varies(model: Any) -> bool:
    """True when a model's flow, loads or backgrounds change in time (a run then settles into a
    cycle rather than onto a steady state)."""
    return (
        not model.flow.is_steady
        or bool(model.layout.time_varying)
        or any(np.size(t.background) > 1 for t in model.tracers.values())
    )


def auto_spinup_days(model: Any) -> float:
    """`AUTO_SPINUP_DAYS` when the forcing varies in time, else 0."""
    return AUTO_SPINUP_DAYS if forcing_varies(model) else 0.0


def steady_start(model: Any, steady_model: Any, *, start: float) -> dict[str, np.ndarray]:
    """{tracer: (ny, nx) concentration [mg/L, as reported]} for ``model`` at ``start`` [s from
    1 January] from the steady state of ``steady_model`` (same grid and tracers, e.g. the
    annual-mean forcing). In ambient mode the steady excess over the steady model's background
    rides on ``model``'s background at ``start``; land cells are 0."""
    steady = steady_model.steady_state()
    wet = model.grid.wet
    ours, theirs = model.background_at(start), steady_model.background_at(0.0)
    out = {}
    for k, name in enumerate(model.names):
        field = np.nan_to_num(steady[name].values)
        if model.ambient:
            field = np.maximum(field - theirs[k], 0.0) + ours[k]
        out[name] = np.where(wet, field, 0.0)
    return out


def storage_change_of_load(budget: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """{tracer: (final − initial mass) / loads in} of a run's mass budget (NaN without loads);
    below 0.01 for every tracer the evaluated period is settled to 1 %."""
    out = {}
    for name, b in budget.items():
        loads = b["loads_in_g"]
        out[name] = float((b["final_g"] - b["initial_g"]) / loads) if loads > 0 else float("nan")
    return out


__all__ = [
    "AUTO_SPINUP_DAYS",
    "INITIAL_STATES",
    "auto_spinup_days",
    "forcing_varies",
    "steady_start",
    "storage_change_of_load",
]
