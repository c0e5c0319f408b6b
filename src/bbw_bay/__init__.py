"""bbw_bay: a fast, verifiable pollutant-load simulator for the Beibu Gulf (Gulf of Tonkin).

Concentrations are in mg/L (= g/m³), loads in g/s inside the model (t/yr at the edges),
lengths in metres, times in seconds.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bbw_bay")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from bbw_bay.core.flow import Flow  # noqa: E402
from bbw_bay.core.grid import Grid  # noqa: E402
from bbw_bay.core.model import InstabilityError, Model, ModelError, Tracer  # noqa: E402
from bbw_bay.core.shallow_water import BoundaryElevation, ShallowWater  # noqa: E402
from bbw_bay.core.solver import StabilityError  # noqa: E402
from bbw_bay.core.sources import PointSource  # noqa: E402
from bbw_bay.gulf import geodata as _geodata  # noqa: E402, F401  (registers Grid.beibu)

__all__ = [
    "BoundaryElevation",
    "Flow",
    "Grid",
    "InstabilityError",
    "Model",
    "ModelError",
    "PointSource",
    "ShallowWater",
    "StabilityError",
    "Tracer",
    "__version__",
]
