"""Source apportionment (源解析): each source's share of the concentration at each receptor.

The contribution of source i at receptor r is α_ri L_i [mg/L] (`bbw_bay.control.response`):
today's load times its response coefficient; the shares are of the land-based excess (the
concentration above the background, area loads included). `apportion` is the entry point (a
model in, a Dataset out); `superposition_check` compares Σ contributions + background with full
steady solves of the same model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from bbw_bay.control.response import (
    Factorisations,
    ResponseError,
    ResponseMatrix,
    annual_sources,
    receptor_values,
    response_coefficients,
    response_fields,
    select_sources,
    tracer_names,
)
from bbw_bay.core.model import Model
from bbw_bay.core.output import grid_dataset, spatial_dims
from bbw_bay.quality.receptors import Receptor
from bbw_bay.units import TONNE_PER_YEAR


def apportion(
    model: Model,
    *,
    receptors: Sequence[Receptor] | None = None,
    tracers: str | Sequence[str] | None = None,
    label: str = "",
    factors: Factorisations | None = None,
) -> xr.Dataset:
    """Each source's contribution [mg/L] and share [%] at each receptor, at today's loads.

    Parameters
    ----------
    model : a model with a steady flow, e.g. ``build(config, season="winter", steady=True).model``
        (`bbw_bay.gulf.assemble.build`); its upwind operator is used whatever its advection
    receptors : control points and zone means (`bbw_bay.quality.receptors`; default the shipped
        control points and zones, lon/lat grids only)
    tracers : tracer name(s) (default every tracer but age tracers)
    label : a label for tables, e.g. the season
    factors : reuse the factorisations of an earlier call (`Factorisations`)

    Returns
    -------
    xr.Dataset of `apportionment_dataset`: ``contribution`` (tracer, receptor, source) [mg/L],
    ``share`` [% of the land-based excess], ``coefficient`` [mg/L per t/yr], ``background``,
    ``excess``, ``total`` (tracer, receptor) [mg/L], ``load`` (tracer, source) [t/yr]

    Examples
    --------
    >>> ds = apportion(model, tracers="DIN", label="winter")  # doctest: +SKIP
    >>> print(apportionment_table(ds, top=3))  # doctest: +SKIP
    """
    matrix = response_coefficients(
        model, receptors=receptors, tracers=tracers, factors=factors, label=label
    )
    return apportionment_dataset(matrix)


def apportionment_dataset(matrix: ResponseMatrix) -> xr.Dataset:
    """Contribution of each source at each receptor [mg/L] and its share [%], as a Dataset.

    Variables: ``contribution`` (tracer, receptor, source) [mg/L] at today's loads;
    ``share`` (tracer, receptor, source) [% of the land-based excess]; ``coefficient``
    (tracer, receptor, source) [mg/L per t/yr]; ``background``, ``diffuse``, ``excess``,
    ``total`` (tracer, receptor) [mg/L]; ``background_share`` [% of total]; ``load`` (tracer,
    source) [t/yr]. Receptor and source descriptions are coordinates.
    """
    contributions = matrix.contributions()
    excess = contributions.sum(axis=2) + matrix.diffuse
    total = matrix.background + excess
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(excess[..., None] > 0, 100.0 * contributions / excess[..., None], 0.0)
        background_share = np.where(total > 0, 100.0 * matrix.background / total, 0.0)
    dims3 = ("tracer", "receptor", "source")
    coords = {
        "tracer": list(matrix.tracers),
        "receptor": [r.key for r in matrix.receptors],
        "source": list(matrix.sources),
        "receptor_kind": ("receptor", [r.kind for r in matrix.receptors]),
        "receptor_name": ("receptor", [r.name for r in matrix.receptors]),
        "receptor_province": ("receptor", [r.province for r in matrix.receptors]),
        "target_class": ("receptor", [r.target_class for r in matrix.receptors]),
        "source_province": (
            "source",
            [g.get("province", "") for g in matrix.groups]
            if matrix.groups
            else [""] * len(matrix.sources),
        ),
        "source_kind": (
            "source",
            [g.get("kind", "") for g in matrix.groups]
            if matrix.groups
            else [""] * len(matrix.sources),
        ),
    }
    ds = xr.Dataset(
        {
            "contribution": (
                dims3,
                contributions,
                {
                    "units": "mg L-1",
                    "long_name": "steady excess concentration from each source at today's load",
                },
            ),
            "share": (
                dims3,
                share,
                {"units": "%", "long_name": "share of the land-based excess concentration"},
            ),
            "coefficient": (
                dims3,
                matrix.coefficients,
                {
                    "units": "mg L-1 (t yr-1)-1",
                    "long_name": "response coefficient (excess per unit annual load)",
                },
            ),
            "load": (
                ("tracer", "source"),
                matrix.loads,
                {"units": "t yr-1", "long_name": "annual-mean load today"},
            ),
            "background": (
                ("tracer", "receptor"),
                matrix.background,
                {"units": "mg L-1", "long_name": "background concentration at the receptor"},
            ),
            "diffuse": (
                ("tracer", "receptor"),
                matrix.diffuse,
                {"units": "mg L-1", "long_name": "excess from area (diffuse) loads"},
            ),
            "excess": (
                ("tracer", "receptor"),
                excess,
                {"units": "mg L-1", "long_name": "land-based excess concentration (all sources)"},
            ),
            "total": (
                ("tracer", "receptor"),
                total,
                {"units": "mg L-1", "long_name": "background + land-based excess"},
            ),
            "background_share": (
                ("tracer", "receptor"),
                background_share,
                {"units": "%", "long_name": "background share of the total"},
            ),
        },
        coords=coords,
    )
    ds.attrs.update(
        {
            "title": "bbw_bay source apportionment (response-coefficient method)",
            "season": matrix.label,
            "advection_of_coefficients": "upwind",
            "receptor_weights": "point: its cell; zone: area-weighted mean of its wet cells",
        }
    )
    return ds


def apportionment_table(ds: xr.Dataset, *, top: int = 3, by: str = "source") -> str:
    """Plain-text table: per tracer and receptor the total, background and the largest
    contributors with their share of the land-based excess.

    Parameters
    ----------
    ds : the Dataset of `apportion` (or `apportionment_dataset`)
    top : contributors listed per receptor
    by : group the contributors by "source", "province" or "kind"

    Returns
    -------
    str: per tracer and receptor the target class, total, background and excess [mg/L] and the
    largest contributors with their share of the excess [%]

    Examples
    --------
    >>> print(apportionment_table(apportion(model, tracers="DIN"), by="province"))
    ... # doctest: +SKIP
    """
    if by == "source":
        contribution = ds["contribution"]
    else:
        contribution = group_contributions(ds, by=by).rename({f"source_{by}": "source"})
    lines = []
    season = f" ({ds.attrs['season']})" if ds.attrs.get("season") else ""
    for tracer in ds["tracer"].values:
        lines.append(
            f"{tracer} [mg/L]{season}: total = background + land-based excess; "
            f"share of the excess by {by}"
        )
        lines.append(
            f"  {'receptor':<28} {'class':>5} {'total':>8} {'backgr':>8} {'excess':>8}"
            f"  largest contributors"
        )
        for receptor in ds["receptor"].values:
            r = ds.sel(tracer=tracer, receptor=receptor)
            c = contribution.sel(tracer=tracer, receptor=receptor)
            excess = float(r["excess"])
            order = np.argsort(-c.values)[:top]
            parts = [
                f"{c['source'].values[k]} {100 * c.values[k] / excess:.0f}%"
                for k in order
                if excess > 0 and c.values[k] > 0
            ]
            lines.append(
                f"  {receptor:<28} {int(r['target_class']):>5} {float(r['total']):8.4g} "
                f"{float(r['background']):8.4g} {excess:8.4g}  " + ", ".join(parts)
            )
    return "\n".join(lines)


def apportionment_csv(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write an `apportionment_dataset` as long-form CSV (one row per tracer, receptor, source;
    plus a "background" row per tracer and receptor), atomically."""
    import csv

    from bbw_bay.core.output import atomic_write

    header = [
        "tracer",
        "season",
        "receptor",
        "receptor_kind",
        "target_class",
        "source",
        "source_province",
        "source_kind",
        "load_t_per_yr",
        "coefficient_mg_per_l_per_t_yr",
        "contribution_mg_per_l",
        "share_of_excess_percent",
        "total_mg_per_l",
    ]

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(header)
            for tracer in ds["tracer"].values:
                for receptor in ds["receptor"].values:
                    r = ds.sel(tracer=tracer, receptor=receptor)
                    common = [
                        tracer,
                        ds.attrs.get("season", ""),
                        receptor,
                        str(r["receptor_kind"].values),
                        int(r["target_class"]),
                    ]
                    total = f"{float(r['total']):.6g}"
                    out.writerow(
                        [
                            *common,
                            "background",
                            "",
                            "",
                            "",
                            "",
                            f"{float(r['background']):.6g}",
                            "",
                            total,
                        ]
                    )
                    for source in ds["source"].values:
                        s = r.sel(source=source)
                        out.writerow(
                            [
                                *common,
                                source,
                                str(s["source_province"].values),
                                str(s["source_kind"].values),
                                f"{float(s['load']):.6g}",
                                f"{float(s['coefficient']):.6g}",
                                f"{float(s['contribution']):.6g}",
                                f"{float(s['share']):.4f}",
                                total,
                            ]
                        )

    return atomic_write(path, write)


def group_contributions(ds: xr.Dataset, *, by: str = "province") -> xr.DataArray:
    """Sum of ``ds.contribution`` over sources grouped by ``source_<by>`` (province or kind)."""
    coord = f"source_{by}"
    if coord not in ds.coords:
        raise ResponseError(f"cannot group by {by!r}: no coordinate {coord!r}")
    labels = [label or "(unknown)" for label in ds[coord].values]
    return (
        ds["contribution"].assign_coords({coord: ("source", labels)}).groupby(coord).sum("source")
    )


def contribution_maps(
    model: Model,
    *,
    sources: str | Sequence[str] | None = None,
    tracers=None,
    factors: Factorisations | None = None,
) -> xr.Dataset:
    """Steady excess field [mg/L] of each chosen source at today's load, on the grid.

    Returns a Dataset with one variable per tracer, dims (source, Y, X), NaN on land.
    """
    factors = factors or Factorisations(model)
    names = tracer_names(model, tracers)
    chosen = select_sources(model, sources)
    fields = response_fields(model, tracers=names, factors=factors)
    op = factors.operator
    ds = grid_dataset(model.grid)
    ydim, xdim = spatial_dims(model.grid)
    ds = ds.assign_coords(source=[model.sources[k].name for k in chosen])
    for t, name in enumerate(names):
        column = model.names.index(name)
        maps = np.stack(
            [
                op.to_field(fields[t, k] * model.layout.loads[k, column] / TONNE_PER_YEAR)
                for k in chosen
            ]
        )
        ds[name] = (
            ("source", ydim, xdim),
            maps,
            {
                "units": "mg L-1",
                "long_name": f"steady excess {name} from each source at today's load (upwind)",
            },
        )
    return ds


def superposition_check(model: Model, matrix: ResponseMatrix) -> dict:
    """Σ contributions + background vs full steady solves of the same model.

    Returns per tracer: ``upwind_max_abs_diff`` [mg/L] and ``upwind_max_rel_diff`` against a
    full steady solve of the model with first-order upwind advection (round-off expected);
    ``scheme_max_abs_diff`` / ``scheme_max_rel_diff`` against the model's own advection scheme
    (e.g. MC; the scheme difference, not round-off), ``scheme_worst_receptor`` (largest relative
    difference) and ``scheme_error`` if that solve failed.
    """
    from bbw_bay.core.steady import SteadyStateError

    superposed = matrix.concentration()
    result: dict = {"advection": model.advection, "tracers": {}}
    sources = annual_sources(model)
    upwind = model.replace(advection="upwind", sources=sources).steady_state()
    full_upwind = receptor_values(matrix, upwind, model.grid)
    scheme, scheme_error = None, None
    if model.advection != "upwind":
        try:
            own = model.replace(sources=sources).steady_state()
            scheme = receptor_values(matrix, own, model.grid)
        except SteadyStateError as err:
            scheme_error = str(err)
    else:
        scheme = full_upwind
    for t, name in enumerate(matrix.tracers):
        entry = _differences(superposed[t], full_upwind[t], "upwind")
        if scheme is not None:
            entry.update(_differences(superposed[t], scheme[t], "scheme"))
            worst = int(
                np.argmax(np.abs(superposed[t] - scheme[t]) / np.maximum(np.abs(scheme[t]), 1e-300))
            )
            entry["scheme_worst_receptor"] = matrix.receptors[worst].key
        else:
            entry["scheme_error"] = scheme_error
        result["tracers"][name] = entry
    return result


def _differences(a: np.ndarray, b: np.ndarray, label: str) -> dict:
    diff = np.abs(a - b)
    scale = np.maximum(np.abs(b), 1e-300)
    return {
        f"{label}_max_abs_diff": float(diff.max(initial=0.0)),
        f"{label}_max_rel_diff": float((diff / scale).max(initial=0.0)),
    }


__all__ = [
    "apportion",
    "apportionment_csv",
    "apportionment_dataset",
    "apportionment_table",
    "contribution_maps",
    "group_contributions",
    "superposition_check",
]
