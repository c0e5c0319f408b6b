"""The package carries what it needs: every subpackage and the shipped data are in the wheel's
package list, the data are read through importlib.resources, and the shipped configs are found
by name (issue #12). `.ci/wheel_check` builds a real wheel and runs it from an empty folder."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bbw_bay.core.config import ConfigError, load_config, resolve_config_path, shipped_configs
from bbw_bay.gulf.data import forcing_dir
from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_subpackage_is_listed_for_the_wheel():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    source = REPO / "src"
    found = {".".join(p.parent.relative_to(source).parts) for p in source.rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_shipped_data_folders_map_to_packages():
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert mapping["bbw_bay.forcing"] == "forcing" and mapping["bbw_bay.configs"] == "configs"
    # every kind of file the product reads from forcing/ is declared as package data
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["bbw_bay.forcing"]
    suffixes = {f"*{p.suffix}" for p in (REPO / "forcing").iterdir() if p.is_file()}
    assert suffixes <= set(patterns), sorted(suffixes - set(patterns))


def test_forcing_is_read_through_importlib_resources(monkeypatch):
    monkeypatch.delenv("BBW_BAY_FORCING", raising=False)
    assert forcing_dir().resolve() == (REPO / "forcing").resolve()
    assert (forcing_dir() / "sources.toml").is_file()


def test_licences_ship_with_the_wheel():
    files = PYPROJECT["project"]["license-files"]
    assert "LICENSE" in files and any(f.startswith("LICENSES") for f in files)
    assert "LGPL" in (REPO / "LICENSE").read_text(encoding="utf-8")
    assert (REPO / "LICENSES" / "LGPL-3.0-or-later.txt").stat().st_size > 5000


def test_shipped_configs_are_found_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty folder: nothing named beibu_gulf here
    assert {"beibu_gulf", "channel"} <= set(shipped_configs())
    for name in ("beibu_gulf", "beibu_gulf.toml", "configs/beibu_gulf.toml"):
        assert resolve_config_path(name) == shipped_configs()["beibu_gulf"]
    assert load_config("channel").path == shipped_configs()["channel"]


def test_a_local_file_wins_over_a_shipped_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = Path("channel.toml")
    local.write_text((REPO / "configs" / "channel.toml").read_text(encoding="utf-8"))
    assert resolve_config_path("channel.toml") == local


def test_an_unknown_config_lists_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="config file not found.*shipped configs: .*beibu_gulf"):
        load_config("elsewhere/beibu_gulf.toml")
