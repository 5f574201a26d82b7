"""The course as a learner meets it: JupyterLab in a real (headless) Chromium.

Starts `jupyter lab` on 127.0.0.1 with a token over a copy of the notebooks, opens the
welcome notebook and the optimizer notebook, runs all cells through JupyterLab's own
menu, checks that no cell produced an error, that opening, running and saving the welcome
notebook leaves its metadata as stored (so a learner's `git pull` does not conflict), that
the ipywidgets panel rendered a slider, and that moving the slider redraws the plot.
Screenshots go to test-artifacts/browser/.

Needs Debian's `chromium` (or DLBD_CHROMIUM=/path/to/chrome) and the `playwright` package;
skipped with a reason when either is missing, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook tab in front
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-default-apps", "--disable-extensions",
]


def _need(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser test cannot run in CI: {reason} (.ci/run installs it)")
    pytest.skip(reason)


def _chromium() -> str:
    path = os.environ.get("DLBD_CHROMIUM") or shutil.which("chromium") or \
        shutil.which("chromium-browser")
    if not path:
        _need("no Chromium found: apt-get install chromium, or set DLBD_CHROMIUM")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a scratch copy of notebooks/ (so nothing in the repo changes)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _need("the playwright package is not installed")
    chromium = _chromium()
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    port, token = _free_port(), secrets.token_hex(16)
    log = open(root / "jupyter.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
         f"--port={port}", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         f"--LabApp.workspaces_dir={root / 'workspaces'}"],  # no tabs restored from before
        stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("jupyter lab did not start:\n" + (root / "jupyter.log").read_text()[-3000:])
        time.sleep(0.5)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield {"base": base, "token": token, "root": root, "chromium": chromium}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=lab["chromium"], headless=True,
                              args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open_and_run_all(page, lab, name: str, timeout_s: float = 400) -> None:
    page.goto(f"{lab['base']}/lab/tree/notebooks/{name}?reset&token={lab['token']}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=120_000)
    # Wait until every code cell has an execution count and none is left running ("[*]").
    # JupyterLab may ask which kernel to use while the session starts; the notebook's own
    # (Python 3) is preselected, so accept it and ask for "Run All Cells" again.
    accept = page.locator(".jp-Dialog button.jp-mod-accept")
    done_js = """() => {
        const prompts = [...document.querySelectorAll(
            '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
        return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
    }"""
    time.sleep(3)  # give the kernel-selection dialog, if any, the time to appear
    run_requested = False
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(done_js):
        if accept.count() and accept.first.is_visible():
            accept.first.click()
            run_requested = False
            time.sleep(2)
        elif not run_requested:
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            run_requested = True
        if time.monotonic() > deadline:
            page.screenshot(path=str(ARTIFACTS / f"{name}-timeout.png"))
            prompts = page.locator(f"{PANEL} .jp-CodeCell .jp-InputPrompt").all_text_contents()
            raise AssertionError(f"{name} did not finish running in JupyterLab; {prompts}")
        time.sleep(1)


def _save_and_read(page, lab, name: str) -> dict:
    path = lab["root"] / "notebooks" / name
    before = path.stat().st_mtime_ns
    page.locator(f"{PANEL} .jp-NotebookPanel-toolbar [data-command='docmanager:save']").click()
    deadline = time.monotonic() + 30
    while path.stat().st_mtime_ns == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert path.stat().st_mtime_ns != before, f"JupyterLab did not save {name}"
    time.sleep(1)  # let the write finish
    return json.loads(path.read_text())


def _errors(nb: dict) -> list[str]:
    found = []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
    return found


def test_welcome_notebook_runs_in_jupyterlab_without_errors(lab, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    name = "00_welcome.ipynb"
    _open_and_run_all(page, lab, name, timeout_s=200)
    page.screenshot(path=str(ARTIFACTS / "00_welcome.png"))
    nb = _save_and_read(page, lab, name)
    assert not _errors(nb), _errors(nb)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code)
    assert any("image/png" in o.get("data", {}) for c in code for o in c["outputs"]), \
        "the welcome notebook's plot did not render"
    # JupyterLab writes the kernel's spec and language_info into the notebook; stored as
    # tools/nbmeta.py stores them, nothing changes (on another Python than the stored one,
    # only language_info.version would).
    stored = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))["metadata"]
    expected = copy.deepcopy(stored)
    expected.setdefault("language_info", {})["version"] = platform.python_version()
    assert nb["metadata"] == expected, (
        f"JupyterLab changed {name}'s metadata from {stored} to {nb['metadata']}: "
        "run python tools/nbmeta.py")
    page.close()


def test_optimizer_widget_renders_and_redraws_when_the_slider_moves(lab, browser):
    name = "05_gradient_descent_and_optimizers.ipynb"
    if not (ROOT / "notebooks" / name).exists():
        pytest.skip(f"{name} is not in the course yet")
    # The scratch copy keeps 05's cells up to the widget panel: the browser runs what the
    # panel needs (nbval runs the whole notebook anyway), not the sections after it.
    path = lab["root"] / "notebooks" / name
    nb = json.loads(path.read_text())
    last = next(i for i, cell in enumerate(nb["cells"])
                if "interactive(" in "".join(cell["source"]))
    nb["cells"] = nb["cells"][:last + 1]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    _open_and_run_all(page, lab, name)
    nb = _save_and_read(page, lab, name)
    assert not _errors(nb), _errors(nb)
    assert len(nb["cells"]) == last + 1

    slider = page.locator(".widget-slider").filter(
        has=page.locator(".widget-label", has_text="momentum")).first
    slider.scroll_into_view_if_needed(timeout=30_000)
    assert slider.is_visible(), "the momentum slider of the widget panel is not on the page"
    panel = page.locator(".widget-interact").filter(has=slider).first
    image = panel.locator(".widget-output img").first
    image.wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "05_widget_before.png"))
    before = image.get_attribute("src")

    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(5):
        handle.press("ArrowRight")
    page.wait_for_function(
        "([el, old]) => { const img = el.querySelector('.widget-output img');"
        " return img && img.getAttribute('src') !== old; }",
        arg=[panel.element_handle(), before], timeout=60_000,
    )
    page.screenshot(path=str(ARTIFACTS / "05_widget_after.png"))
    assert image.get_attribute("src") != before
    page.close()
