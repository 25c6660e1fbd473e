"""The wheel ships everything the plugin needs, and works installed outside the checkout.

The wheel is built from a copy of the sources (so a stale build/ directory in the
checkout cannot leak into it, and concurrent runs do not share one), installed with its
dependencies into a fresh virtual environment in a temporary directory, and the
storefront example's smoke script runs with that environment's Python, from outside the
repository: nothing can be imported from the checkout, so templates render and
migrations run from the installed package or not at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "plugin" / "flask_shoppable"
STOREFRONT = ROOT / "examples" / "storefront"

#: What the build reads; everything else in the checkout stays out of the wheel.
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "plugin", "templates", "migrations")
_JUNK = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.egg-info", "build", "dist", "instance", "*.sqlite3*"
)


def _run(
    args: list[str | Path], *, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> str:
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = f"{proc.stdout}\n{proc.stderr}"
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {proc.returncode}:\n{output}")
    return output


def _clean_env() -> dict[str, str]:
    """The environment, minus what could point Python or Flask back at the checkout."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("FLASK_")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=_JUNK)
        elif path.exists():
            shutil.copy2(path, source / name)
    dist = work / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-input", "-w", dist, source],
        cwd=work,
        timeout=300,
        env=_clean_env(),
    )
    wheels = sorted(dist.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _expected_files() -> set[str]:
    expected = {
        f"flask_shoppable/{path.relative_to(PACKAGE).as_posix()}"
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    expected.add("flask_shoppable/py.typed")
    templates = ROOT / "templates"
    expected |= {
        f"flask_shoppable/templates/{path.relative_to(templates).as_posix()}"
        for path in (templates / "shoppable").rglob("*")
        if path.is_file()
    }
    migrations = ROOT / "migrations"
    expected |= {"flask_shoppable/migrations/env.py", "flask_shoppable/migrations/script.py.mako"}
    expected |= {
        f"flask_shoppable/migrations/versions/{path.name}"
        for path in (migrations / "versions").glob("*.py")
    }
    return expected


def test_wheel_contains_the_package_templates_and_migrations(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing = sorted(_expected_files() - names)
    assert not missing, f"the wheel lacks: {missing}"
    assert any(n.startswith("flask_shoppable/templates/shoppable/") for n in names)

    tops = {name.split("/", 1)[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"flask_shoppable"}
    strays = sorted(
        n
        for n in names
        if "__pycache__" in n or n.endswith(".pyc") or "/tests/" in n or "examples/" in n
    )
    assert not strays, f"the wheel carries files it should not: {strays}"


def test_installed_wheel_runs_the_storefront_smoke_script(wheel: Path, tmp_path: Path) -> None:
    env = _clean_env()
    venv = tmp_path / "venv"
    # No pip inside (no ensurepip): the running pip installs into it, without byte-compiling.
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path, timeout=120, env=env)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python]
    _run(
        [*pip, "install", "--no-input", "--quiet", "--no-compile", wheel],
        cwd=tmp_path,
        timeout=300,
        env=env,
    )

    site = tmp_path / "site" / "storefront"
    shutil.copytree(STOREFRONT, site, ignore=_JUNK)
    output = _run([python, "smoke.py"], cwd=site, timeout=120, env=env)

    assert "smoke: all checks passed" in output, output
    lines = output.splitlines()
    imported = next(line for line in lines if line.startswith("info  flask_shoppable imported"))
    assert str(venv) in imported, "the plugin was imported from somewhere else than the wheel"
    template = next(line for line in lines if line.startswith("info  shoppable/storefront.html"))
    assert str(venv) in template, "the template was read from somewhere else than the wheel"
