"""The repository keeps its promises: pinned requirements, README commands, CI, course opener."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def requirement_lines() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()]


def test_requirements_install_the_engine_and_cap_every_package():
    reqs = requirement_lines()
    assert "-e ." in reqs, "requirements.txt must install dlbd_lib (editable)"
    for line in reqs:
        if line.startswith(("-e", "./")):
            continue
        assert "<" in line, f"{line!r} has no upper bound"


def test_torch_is_pinned_below_2_14():
    torch_lines = [ln for ln in requirement_lines() if re.match(r"torch\b", ln)]
    assert torch_lines == ["torch>=2.2,<2.14"]


@pytest.mark.parametrize("command", [
    "python -m venv .venv",
    "python -m pip install -r requirements.txt",
    "jupyter lab",
    "pytest",
])
def test_readme_gives_the_setup_commands(command):
    assert command in README


def test_readme_links_every_notebook_in_the_syllabus():
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"(notebooks/{nb.name})" in README, f"README's syllabus misses {nb.name}"
    for nb in sorted((ROOT / "exercises").glob("*.ipynb")):
        assert f"(exercises/{nb.name})" in README, f"README's syllabus misses {nb.name}"


def test_ci_script_makes_a_venv_installs_and_runs_pytest():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv .venv" in ci
    assert "pip install" in ci and "-r requirements.txt" in ci
    assert re.search(r"^pytest\s*$", ci, re.M)


def test_jupyter_lab_opens_the_first_notebook():
    conf = json.loads((ROOT / "jupyter-config" / "etc" / "jupyter_lab_config.json").read_text())
    url = conf["LabApp"]["default_url"]
    assert url.startswith("/lab/tree/")
    assert (ROOT / url.removeprefix("/lab/tree/")).is_file()
    installed = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_lab_config.json"
    if not installed.exists():
        pytest.skip("the course's Jupyter setting is not installed in this environment")
    assert json.loads(installed.read_text()) == conf


def test_pick_device_honours_the_override(monkeypatch, capsys):
    from dlbd_lib.device import pick_device

    monkeypatch.setenv("DLBD_DEVICE", "cpu")
    device = pick_device()
    assert device.type == "cpu"
    assert "PyTorch device: cpu" in capsys.readouterr().out
    monkeypatch.delenv("DLBD_DEVICE")
    assert pick_device(verbose=False).type in {"cuda", "mps", "cpu"}


def test_readme_syllabus_is_up_to_date():
    import importlib.util

    spec = importlib.util.spec_from_file_location("syllabus", ROOT / "tools" / "syllabus.py")
    syllabus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(syllabus)
    assert syllabus.main(["--check"]) == 0, "run: python tools/syllabus.py"


def _packages(path: Path) -> list[str]:
    lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
    return sorted(ln for ln in lines if ln and not ln.startswith(("-", "./")))


def test_binder_installs_the_same_packages_as_requirements():
    assert _packages(ROOT / "binder" / "requirements.txt") == _packages(ROOT / "requirements.txt")
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post and "./jupyter-config" in post


def test_conda_environment_uses_requirements_txt():
    env = (ROOT / "environment.yml").read_text()
    assert "-r requirements.txt" in env and "python=3.11" in env
