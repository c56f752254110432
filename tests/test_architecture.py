"""Packaging and layering: one import name in the wheel, and layers that point one way.

The folders ``encoders/``, ``gnn/`` and ``analysis/`` install as ``qtlgraph.encoders``,
``qtlgraph.gnn`` and ``qtlgraph.analysis`` (``[tool.setuptools.package-dir]``). The layer
contract lives in ``pyproject.toml`` (``[tool.importlinter]``); import-linter walks one package
directory, so the test lays the installed layout out as links and lints that.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"encoders": "encoders", "gnn": "gnn", "analysis": "analysis"}
BIN = Path(sys.executable).parent


def _layout(dest: Path, patch: dict[str, str] | None = None) -> Path:
    """``dest/qtlgraph`` as installed: links to the sources, ``patch`` files written as copies."""
    pkg = dest / "qtlgraph"
    pkg.mkdir(parents=True)
    for item in (ROOT / "qtlgraph").iterdir():
        if item.name != "__pycache__":
            (pkg / item.name).symlink_to(item)
    for name, folder in MAPPED.items():
        (pkg / name).symlink_to(ROOT / folder)
    for rel, text in (patch or {}).items():
        target = pkg / rel
        target.unlink()
        target.write_text(text)
    return dest


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(BIN / "lint-imports"), str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def lint_tool():
    if not (BIN / "lint-imports").exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")


def test_layer_contract_is_kept(tmp_path, lint_tool):
    result = _lint(_layout(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_layer_contract_catches_an_upward_import(tmp_path, lint_tool):
    # The data layer reaching up into the GNN package must break the contract.
    text = (
        ROOT / "qtlgraph" / "tracks.py"
    ).read_text() + "\nfrom qtlgraph.gnn import data  # noqa\n"
    result = _lint(_layout(tmp_path, {"tracks.py": text}))
    assert result.returncode != 0
    assert "qtlgraph.tracks -> qtlgraph.gnn.data" in result.stdout


def _wheel(tmp_path: Path) -> Path:
    out = tmp_path / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*cmd, "-w", str(out), str(ROOT)], check=True, capture_output=True)
    (wheel,) = out.glob("qtlgraph-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_has_one_import_name_and_every_module_imports(tmp_path):
    pytest.importorskip("setuptools")
    wheel = _wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"qtlgraph"}
    for sub in ("encoders", "gnn", "analysis", "simulate", "cli"):
        assert f"qtlgraph/{sub}/__init__.py" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    modules = sorted(
        n[:-3].replace("/", ".").removesuffix(".__init__")
        for n in names
        if n.endswith(".py") and n.startswith("qtlgraph/") and not n.endswith("__main__.py")
    )
    # Only the unpacked wheel may answer: no editable finder, no checkout on the path.
    code = (
        "import sys, importlib\n"
        "sys.meta_path = [f for f in sys.meta_path if 'editable' not in type(f).__module__ "
        "and 'editable' not in getattr(f, '__module__', '')]\n"
        f"sys.path = [{str(site)!r}] + [p for p in sys.path if 'python3' in p]\n"
        f"for m in {modules!r}:\n"
        "    mod = importlib.import_module(m)\n"
        f"    assert mod.__file__.startswith({str(site)!r}), (m, mod.__file__)\n"
        "print('imported', len(sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
