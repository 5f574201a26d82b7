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


CPU_TORCH = ('python -m pip install "torch>=2.2,<2.14" '
             "--index-url https://download.pytorch.org/whl/cpu")


def _section(text: str, heading: str) -> str:
    """The text under a `## heading` up to the next heading of level 2."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## )", text, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def _first_code_block(text: str) -> list[str]:
    """The lines of the first ```bash block of text, comments and trailing spaces removed."""
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "no ```bash block"
    return [ln.split("#")[0].rstrip() for ln in block.group(1).splitlines()]


SETUP = _section(README, "Set-up")
SETUP_BLOCK = _first_code_block(SETUP)


@pytest.mark.parametrize("command", [
    "python3 -m venv .venv",
    CPU_TORCH,
    "python -m pip install -r requirements.txt",
    "jupyter lab",
])
def test_readme_setup_block_gives_the_setup_commands(command):
    assert command in SETUP_BLOCK, f"the Set-up block lacks {command!r}: {SETUP_BLOCK}"


def test_readme_gives_the_test_command():
    assert re.search(r"^pytest$", README, re.M)


def test_setup_block_starts_with_python3_and_says_why():
    # plain Debian/Ubuntu have no `python` before a venv is active
    assert SETUP_BLOCK[0].startswith("python3 -m venv"), SETUP_BLOCK[0]
    assert "`python3`" in SETUP and "Debian" in SETUP


def test_setup_installs_the_cpu_torch_build_before_the_requirements():
    assert SETUP_BLOCK.index(CPU_TORCH) < \
        SETUP_BLOCK.index("python -m pip install -r requirements.txt")
    # requirements.txt's comment on torch tells the same story as the README
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("torch"))
    comment = []
    for ln in reversed(lines[:at]):
        if not ln.startswith("#"):
            break
        comment.append(ln)
    comment = " ".join(comment)
    assert "https://download.pytorch.org/whl/cpu" in comment and "Set-up" in comment, comment
    assert "CPU build by default" not in comment


def test_setup_section_tells_root_users_about_allow_root():
    assert "--allow-root" in SETUP


def test_chinese_readme_is_linked_at_the_top_and_repeats_the_setup_commands():
    head = "\n".join(README.splitlines()[:5])
    assert "(README.zh-CN.md)" in head, "README.md must link README.zh-CN.md at its top"
    zh = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert "(README.md)" in "\n".join(zh.splitlines()[:5])
    zh_block = _first_code_block(_section(zh, "安装"))
    assert zh_block == SETUP_BLOCK, "README.zh-CN.md's 安装 block differs from Set-up"
    assert "--allow-root" in _section(zh, "安装")


def test_chinese_readme_links_every_notebook_and_exercise():
    zh = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    for folder in ("notebooks", "exercises", "solutions"):
        for nb in sorted((ROOT / folder).glob("*.ipynb")):
            assert f"({folder}/{nb.name})" in zh, f"README.zh-CN.md misses {folder}/{nb.name}"
    for heading in ("安装", "课程大纲", "练习与评分", "GPU（可选）", "常见问题"):
        assert f"\n## {heading}\n" in zh, f"README.zh-CN.md lacks the section {heading}"


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
    # no "Would you like to receive official Jupyter news?" pop-up over the first notebook:
    # a news_url of None turns the news off (jupyterlab.labapp: news "disabled")
    assert "news_url" in conf["LabApp"] and conf["LabApp"]["news_url"] is None
    installed = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_lab_config.json"
    if not installed.exists():
        pytest.skip("the course's Jupyter setting is not installed in this environment")
    assert json.loads(installed.read_text()) == conf, \
        "the installed Jupyter setting is out of date: python -m pip install ./jupyter-config"


def test_jupyterlab_never_asks_about_news(tmp_path):
    """JupyterLab 4 asks "get notified about official Jupyter news?" unless fetchNews is set."""
    from jupyter_server.config_manager import BaseJSONConfigManager
    from jupyterlab.commands import get_app_dir
    from jupyterlab_server.settings_utils import get_settings

    labconfig = ROOT / "jupyter-config" / "etc" / "labconfig"
    overrides = BaseJSONConfigManager(config_dir=str(labconfig)).get("default_setting_overrides")
    app_dir = Path(get_app_dir())
    name = "@jupyterlab/apputils-extension:notification"
    settings, warnings = get_settings(str(app_dir / "settings"), str(app_dir / "schemas"),
                                      str(tmp_path), schema_name=name, overrides=overrides)
    props = settings["schema"]["properties"]
    assert props["fetchNews"]["default"] == "false", props["fetchNews"]
    assert props["checkForUpdates"]["default"] is False
    assert not [w for w in warnings if w], warnings
    # installed where JupyterLab reads it: <prefix>/etc/jupyter/labconfig
    pyproject = (ROOT / "jupyter-config" / "pyproject.toml").read_text()
    assert '"etc/jupyter/labconfig" = ["etc/labconfig/default_setting_overrides.json"]' \
        in pyproject
    installed = Path(sys.prefix) / "etc" / "jupyter" / "labconfig" / \
        "default_setting_overrides.json"
    if not installed.exists():
        pytest.skip("the course's Jupyter setting is not installed in this environment")
    assert json.loads(installed.read_text()) == \
        json.loads((labconfig / "default_setting_overrides.json").read_text()), \
        "the installed Jupyter setting is out of date: python -m pip install ./jupyter-config"


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
