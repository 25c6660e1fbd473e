"""The README stays true: its configuration table, commands and make targets."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest

from flask_shoppable import cli
from flask_shoppable.config import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")

#: Environment variables of the test suite (tests/conftest.py, tests/browser/conftest.py),
#: not settings of the plugin.
TEST_ENVIRONMENT = {"SHOPPABLE_TEST_POSTGRES_URL", "SHOPPABLE_TEST_STRICT", "SHOPPABLE_CHROMIUM"}

_ROW_RE = re.compile(r"^\|\s*`(SHOPPABLE_[A-Z0-9_]+)`\s*\|([^|]*)\|", re.MULTILINE)
_CODE_RE = re.compile(r"`([^`]*)`")


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def _config_table() -> dict[str, str]:
    """Key → default cell of the Configuration table."""
    return {key: cell.strip() for key, cell in _ROW_RE.findall(_section("Configuration"))}


def _expected_row(key: str) -> str:
    setting = DEFAULTS[key]
    default = setting.default
    shown = f'"{default}"' if isinstance(default, str) else repr(default)
    return f"| `{key}` | `{shown}` | {setting.doc} |"


def test_every_setting_is_in_the_configuration_table() -> None:
    missing = [key for key in DEFAULTS if key not in _config_table()]
    rows = "\n".join(_expected_row(key) for key in missing)
    assert not missing, f"add these rows to the README's Configuration table:\n{rows}"


def test_the_readme_names_no_setting_that_does_not_exist() -> None:
    named = set(re.findall(r"SHOPPABLE_[A-Z0-9_]*[A-Z0-9]", README))
    unknown = sorted(named - set(DEFAULTS) - TEST_ENVIRONMENT)
    assert not unknown, f"the README names settings missing from config.DEFAULTS: {unknown}"


@pytest.mark.parametrize("key", list(DEFAULTS))
def test_documented_default_is_the_real_one(key: str) -> None:
    cell = _config_table().get(key)
    if cell is None:
        pytest.skip(f"{key} is not in the table (reported by another test)")
    code = _CODE_RE.search(cell)
    assert code, f"{key}: the default cell {cell!r} shows no `value`"
    try:
        documented = ast.literal_eval(code.group(1))
    except (ValueError, SyntaxError):
        pytest.fail(f"{key}: the default {code.group(1)!r} is not a Python literal")
    assert documented == DEFAULTS[key].default, f"{key}: the README's default is out of date"
    assert type(documented) is type(DEFAULTS[key].default)


def _command_paths(group: click.Group, prefix: str = "") -> list[str]:
    paths = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, f"{path} "))
        else:
            paths.append(path)
    return paths


def test_every_command_is_documented() -> None:
    undocumented = [p for p in _command_paths(cli.group) if f"flask shoppable {p}" not in README]
    assert not undocumented, f"the README's Command line section lacks: {undocumented}"


def test_documented_commands_exist() -> None:
    commands = set(_command_paths(cli.group))
    named = re.findall(r"flask shoppable ((?:db |outbox )?[a-z][a-z-]*)", README)
    unknown = sorted({n for n in named if n not in commands})
    assert not unknown, f"the README names commands that do not exist: {unknown}"


def test_documented_make_targets_exist() -> None:
    targets = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, re.MULTILINE))
    named = set(re.findall(r"(?:^|`)make ([a-z][a-z-]*)", README, re.MULTILINE))
    assert {"demo", "test"} <= named
    assert named <= targets, f"the README names make targets the Makefile lacks: {named - targets}"
