#!/usr/bin/env python3
"""Regenerate the gulf geography files in ``forcing/`` and the checksum manifest.

Files written (next to this script unless ``--outdir`` is given):

* ``bathymetry_etopo5_beibu.nc`` -- ETOPO5 5-arc-minute relief, 105-113E x 16-23.5N, values
  unchanged.
* ``landmask_gshhg_beibu.nc``    -- GSHHG 2.3.7 full-resolution land/sea mask and sea fraction,
  1 arc-minute, pixel registered, values unchanged (a derived raster, LGPL-3.0-or-later).
* ``CHECKSUMS.sha256``           -- sha256 of every file in the folder (see `write_manifest`).

The inputs are the shared copies ``bathymetry_beibu.nc`` and ``landmask_beibu.nc`` made by
``make_beibu_geodata.py`` (shared data folder of the project, kept with its README). That script
rebuilds them from the original packaged sources -- Debian ``ferret-datasets`` 7.6.0-5
(``etopo5.cdf``) and Debian ``gmt`` + ``gmt-gshhg-full`` 2.3.7-6 (``gmt grdlandmask``) -- as
follows::

    apt-get install -y gmt gmt-gshhg-full
    apt-get download ferret-datasets && dpkg-deb -x ferret-datasets_*_all.deb ferret
    python make_beibu_geodata.py --etopo5 ferret/usr/share/ferret-vis/data/etopo5.cdf \\
        --etopo1 ETOPO1_0.1.grd --outdir DATA
    python make_gulf_data.py --data DATA

This script only copies the variables and their attributes, adds licence and provenance
attributes and appends a line to ``history``; grid values are not touched. ``--manifest-only``
rehashes the folder without touching the data files (use it after adding other forcing files).

Usage::

    python forcing/make_gulf_data.py [--data /work/shared/data] [--outdir forcing]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
from pathlib import Path

import netCDF4

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "shared" / "data"
MANIFEST = "CHECKSUMS.sha256"
#: Files never listed in the manifest: the manifest itself and documentation.
NOT_HASHED_SUFFIXES = (".md", ".txt", ".rst")

ETOPO5_LICENSE = (
    "Public domain: ETOPO5 is a work of the US Government (NOAA National Geophysical Data Center, "
    "1988), with no use restrictions. Obtained from the Debian main package ferret-datasets "
    "7.6.0-5."
)
ETOPO5_SOURCE = (
    "ETOPO5 5-arc-minute global relief (NOAA NGDC 1988, Data Announcement 88-MGG-02), file "
    "usr/share/ferret-vis/data/etopo5.cdf of Debian package ferret-datasets 7.6.0-5 (sha256 "
    "1455d5e5feebd183d0bef5538a750ca8a44801e1503f964df900831c224459ce); subset 105-113E "
    "16-23.5N by make_beibu_geodata.py, copied unchanged into bbw_bay by forcing/make_gulf_data.py"
)
GSHHG_LICENSE = (
    "LGPL-3.0-or-later. This land/sea mask is a derived raster of GSHHG (Global Self-consistent, "
    "Hierarchical, High-resolution Geography Database) 2.3.7, copyright The GMT Team (P. Wessel "
    "and W. H. F. Smith), distributed under the GNU Lesser General Public License version 3 or "
    "(at your option) any later version; see https://www.gnu.org/licenses/lgpl-3.0.html. "
    "Derived from Debian package gmt-gshhg-full 2.3.7 (2.3.7-6), which holds the original data."
)
GSHHG_SOURCE = (
    "GSHHG 2.3.7 full-resolution shorelines, derived from Debian package gmt-gshhg-full 2.3.7 "
    "(2.3.7-6), rasterised with GMT 6.4.0 grdlandmask -R105/113/16/23.5 -I1m -r -Df -A0 "
    "-N1/0/0/0/0 (sea_mask) and -I15s averaged over 4x4 blocks (sea_fraction) by "
    "make_beibu_geodata.py; copied unchanged into bbw_bay by forcing/make_gulf_data.py"
)

FILES = {
    # output name: (input name in the shared data folder, source, license)
    "bathymetry_etopo5_beibu.nc": ("bathymetry_beibu.nc", ETOPO5_SOURCE, ETOPO5_LICENSE),
    "landmask_gshhg_beibu.nc": ("landmask_beibu.nc", GSHHG_SOURCE, GSHHG_LICENSE),
}


def copy_with_provenance(src: Path, dst: Path, *, source: str, license: str) -> None:
    """Copy a netCDF file variable by variable, keeping every attribute and adding provenance."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with netCDF4.Dataset(src) as inp, netCDF4.Dataset(dst, "w", format="NETCDF4") as out:
        attrs = {k: inp.getncattr(k) for k in inp.ncattrs()}
        attrs["original_source"] = attrs.get("source", "")
        attrs["original_license"] = attrs.get("license", "")
        attrs["source"] = source
        attrs["license"] = license
        attrs["history"] = (
            attrs.get("history", "") + f"\n{now}: copied from {src.name} into bbw_bay forcing/"
            f"{dst.name} by make_gulf_data.py (values unchanged; source/license attributes added)"
        )
        out.setncatts(attrs)
        for name, dim in inp.dimensions.items():
            out.createDimension(name, len(dim))
        for name, var in inp.variables.items():
            fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
            new = out.createVariable(
                name, var.dtype, var.dimensions, zlib=True, complevel=6, fill_value=fill
            )
            new.setncatts({k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"})
            var.set_auto_maskandscale(False)
            new.set_auto_maskandscale(False)
            new[:] = var[:]


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(folder: Path = HERE) -> Path:
    """Rewrite ``CHECKSUMS.sha256`` in `folder` with ``DIGEST  NAME`` for every forcing file.

    Every regular file in the folder is hashed except the manifest itself, documentation
    (``.md``, ``.txt``, ``.rst``) and hidden files, so forcing files added by other scripts are
    covered when this runs again. Python scripts (the regeneration scripts) are hashed too.
    """
    lines = []
    for path in sorted(folder.iterdir()):
        if (
            not path.is_file()
            or path.name == MANIFEST
            or path.name.startswith(".")
            or path.suffix.lower() in NOT_HASHED_SUFFIXES
            or path.suffix == ".pyc"
        ):
            continue
        lines.append(f"{file_sha256(path)}  {path.name}\n")
    manifest = folder / MANIFEST
    manifest.write_text("".join(lines))
    return manifest


def main(argv: list[str] | None = None) -> None:
    """Command line: copy the data files, then rewrite the manifest."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="folder with make_beibu_geodata.py's output (default: %(default)s)",
    )
    parser.add_argument("--outdir", type=Path, default=HERE)
    parser.add_argument(
        "--manifest-only", action="store_true", help="only rehash the files in --outdir"
    )
    args = parser.parse_args(argv)
    if not args.manifest_only:
        for name, (src, source, license_) in FILES.items():
            copy_with_provenance(
                args.data / src, args.outdir / name, source=source, license=license_
            )
            print(f"wrote {args.outdir / name}")
    print(f"wrote {write_manifest(args.outdir)}")


if __name__ == "__main__":
    main()
