"""bbw_bay: a fast, verifiable pollutant-load simulator for the Beibu Gulf (Gulf of Tonkin).

Concentrations are in mg/L (= g/m³), loads in g/s inside the model (t/yr at the edges),
lengths in metres, times in seconds.
"""

from __future__ import annotations

from bbw_bay import plots  # noqa: E402
from bbw_bay.control.apportion import apportion, apportionment_table  # noqa: E402
from bbw_bay.control.capacity import allowable_loads  # noqa: E402
from bbw_bay.control.capacity_report import capacity_dataset, capacity_table  # noqa: E402
from bbw_bay.control.capacity_report import verify as verify_allowable_loads  # noqa: E402
from bbw_bay.control.capacity_run import CapacityRun, capacity_from_config  # noqa: E402
from bbw_bay.control.scenario_compare import comparison_table  # noqa: E402
from bbw_bay.control.scenarios import run_scenarios  # noqa: E402
from bbw_bay.core.config import load_config  # noqa: E402
from bbw_bay.core.flow import Flow  # noqa: E402
from bbw_bay.core.grid import Grid  # noqa: E402
from bbw_bay.core.model import InstabilityError, Model, ModelError, Tracer  # noqa: E402
from bbw_bay.core.shallow_water import BoundaryElevation, ShallowWater  # noqa: E402
from bbw_bay.core.simulation import Simulation  # noqa: E402
from bbw_bay.core.solver import StabilityError  # noqa: E402
from bbw_bay.core.sources import PointSource  # noqa: E402
from bbw_bay.errors import BadInputError, BbwBayError, RuntimeFailure  # noqa: E402
from bbw_bay.gulf import geodata as _geodata  # noqa: E402, F401  (registers Grid.beibu)
from bbw_bay.gulf import nests as _nests  # noqa: E402, F401  (registers Grid.beibu_nest)
from bbw_bay.gulf.assemble import build  # noqa: E402
from bbw_bay.quality.evaluate import evaluate, evaluation_table  # noqa: E402
from bbw_bay.quality.receptors import receptors_for  # noqa: E402
from bbw_bay.quality.zones import Zone, load_zones  # noqa: E402
from bbw_bay.version import __version__  # noqa: E402

__all__ = [
    "BadInputError",
    "BbwBayError",
    "BoundaryElevation",
    "CapacityRun",
    "Flow",
    "Grid",
    "InstabilityError",
    "Model",
    "ModelError",
    "RuntimeFailure",
    "PointSource",
    "ShallowWater",
    "Simulation",
    "StabilityError",
    "Tracer",
    "Zone",
    "allowable_loads",
    "apportion",
    "apportionment_table",
    "build",
    "capacity_dataset",
    "capacity_from_config",
    "capacity_table",
    "comparison_table",
    "evaluate",
    "evaluation_table",
    "load_config",
    "load_zones",
    "plots",
    "receptors_for",
    "run_scenarios",
    "verify_allowable_loads",
    "__version__",
]
