"""Documentation that cannot rot: the config reference and the README's commands."""

from __future__ import annotations

from bbw_bay.cli.main import build_parser
from bbw_bay.core.config import describe_schema
from tests.conftest import REPO


def test_config_reference_matches_the_schema():
    # docs/config.md is generated from the schema; a key added without regenerating it fails here
    assert describe_schema() in (REPO / "docs" / "config.md").read_text(encoding="utf-8")


def test_readme_names_every_cli_command():
    # the README's CLI reference lists every subcommand the parser offers
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no API
    missing = [name for name in commands if f"bbw-bay {name}" not in readme]
    assert not missing, missing
