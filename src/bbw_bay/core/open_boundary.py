"""Inflow concentrations on open-boundary faces (Thatcher–Harleman return), for the solver."""

from __future__ import annotations

import numpy as np

from bbw_bay.core.grid import Grid


class BoundaryState:
    """Inflow concentrations on open-boundary faces, with Thatcher–Harleman return.

    On outflow the exiting concentration is remembered; after the flow turns inward the ghost
    value relaxes from it to the background as c_b = c_exit + ½(c_bg − c_exit)(1 − cos(π τ / T))
    for τ < T (T = return time; T = 0 gives the background at once). Thatcher & Harleman (1972),
    MIT Ralph M. Parsons Lab. Rep. 144.
    """

    def __init__(self, grid: Grid, ntr: int, return_time: float) -> None:
        self.return_time = float(return_time)
        shapes = {
            "west": (ntr, grid.ny),
            "east": (ntr, grid.ny),
            "south": (ntr, grid.nx),
            "north": (ntr, grid.nx),
        }
        self.ghost = {edge: np.zeros(shape) for edge, shape in shapes.items()}
        self.exit = {edge: np.zeros(shape) for edge, shape in shapes.items()}
        self.since = {edge: np.full(shape[1], np.inf) for edge, shape in shapes.items()}

    def reset(self, background: np.ndarray) -> None:
        """Start with every face at the background (no memory of earlier outflow)."""
        for edge in self.ghost:
            self.ghost[edge][:] = background[:, None]
            self.exit[edge][:] = background[:, None]
            self.since[edge][:] = np.inf

    def update(
        self,
        c: np.ndarray,
        transport_u: np.ndarray,
        transport_v: np.ndarray,
        background: np.ndarray,
        dt: float,
    ) -> None:
        """Set the ghosts for the coming step from the state ``c`` at its start."""
        outward = {
            "west": transport_u[:, 0] < 0,
            "east": transport_u[:, -1] > 0,
            "south": transport_v[0, :] < 0,
            "north": transport_v[-1, :] > 0,
        }
        interior = {
            "west": c[:, :, 0],
            "east": c[:, :, -1],
            "south": c[:, 0, :],
            "north": c[:, -1, :],
        }
        bg = background[:, None]
        for edge, out_mask in outward.items():
            self.exit[edge][:, out_mask] = interior[edge][:, out_mask]
            self.since[edge][out_mask] = 0.0
            tau = self.since[edge]
            if self.return_time > 0:
                phase = np.clip(tau / self.return_time, 0.0, 1.0)
                weight = 0.5 * (1.0 - np.cos(np.pi * phase))
            else:
                weight = np.ones_like(tau)
            exit_c = self.exit[edge]
            self.ghost[edge][:] = exit_c + weight[None, :] * (bg - exit_c)
            self.since[edge][~out_mask] += dt

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to checkpoint."""
        out: dict[str, np.ndarray] = {}
        for edge in self.ghost:
            out[f"exit_{edge}"] = self.exit[edge].copy()
            out[f"since_{edge}"] = self.since[edge].copy()
        return out

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Inverse of `state`."""
        for edge in self.ghost:
            self.exit[edge][:] = state[f"exit_{edge}"]
            self.since[edge][:] = state[f"since_{edge}"]
