"""Headless Chromium for browser tests, driven by Playwright for Python (a pytest plugin module,
loaded by tests/conftest.py through ``pytest_plugins``).

Fixtures:

``chromium`` (session)
    Debian's Chromium (``/usr/bin/chromium``, or ``$MODEL_ROUTING_CHROMIUM``) started once,
    headless, with the flags this machine needs (no sandbox as root, no GPU, QUIC, first-run,
    background networking, component updates or sync: the closed network refuses those calls)
    and a fresh ``--user-data-dir``; ``.cdp_url`` is its DevTools endpoint, ``.version``.
``browser`` (function)
    A Playwright ``Browser`` connected to that Chromium over CDP. Playwright itself (its driver
    process and event loop) lives only for the test: a sync Playwright left running for the
    session would make ``asyncio.run()`` fail in every later test ("cannot be called from a
    running event loop").
``page`` (function)
    A new page in a fresh browser context (its own cookies and storage), closed afterwards.

``save_screenshot(page, "docs/setup-page.png")`` writes a full-page PNG; a relative path is
taken from the repository root.

Playwright never downloads a browser here: nothing calls ``playwright install``, the fixture
only connects to the system Chromium, and ``PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1`` is set anyway.
Without Chromium or the ``playwright`` package the tests that use these fixtures are skipped
with the reason, except under ``CI=true`` (``.ci/run``), where they fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's package `chromium` (.ci/run installs it)
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
]
START_TIMEOUT = 30.0
PAGE_TIMEOUT_MS = 15_000

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


def unavailable(reason: str) -> None:
    """Skip, or fail under CI where everything .ci/run installs must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI=true: .ci/run should have installed it)", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str | None:
    wanted = os.environ.get("MODEL_ROUTING_CHROMIUM")
    for candidate in ([wanted] if wanted else [CHROMIUM, "chromium", "chromium-browser"]):
        found = shutil.which(candidate)
        if found:
            return found
    return None


@dataclass
class Chromium:
    process: subprocess.Popen[bytes]
    cdp_url: str
    profile: Path
    version: str

    @property
    def log(self) -> Path:
        return self.profile.parent / "chromium.log"


def _start(binary: str) -> Chromium:
    work = Path(tempfile.mkdtemp(prefix="model-routing-chromium-"))
    profile = work / "profile"
    profile.mkdir()
    log = (work / "chromium.log").open("wb")
    process = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    log.close()
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        lines = active.read_text().splitlines() if active.is_file() else []
        if lines and lines[0].strip().isdigit():
            break
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            tail = (work / "chromium.log").read_text(errors="replace")[-2000:]
            shutil.rmtree(work, ignore_errors=True)
            pytest.fail(f"{binary} did not open its DevTools port within {START_TIMEOUT:.0f} s "
                        f"(exit {process.returncode}):\n{tail}", pytrace=False)
        time.sleep(0.05)
    version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    return Chromium(process, f"http://127.0.0.1:{lines[0].strip()}", profile, version)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The browser and its helper processes (its own process group, started above)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    binary = chromium_path()
    if binary is None:
        where = os.environ.get("MODEL_ROUTING_CHROMIUM") or CHROMIUM
        unavailable(f"Chromium is not installed ({where}; Debian: apt-get install chromium; "
                    ".ci/run does it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the playwright package is missing: pip install -e '.[test]'")
    assert binary is not None
    running = _start(binary)
    try:
        yield running
    finally:
        _stop(running.process)
        shutil.rmtree(running.profile.parent, ignore_errors=True)


@pytest.fixture
def browser(chromium: Chromium) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        connected = playwright.chromium.connect_over_cdp(chromium.cdp_url)
        try:
            yield connected
        finally:
            connected.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def save_screenshot(page: Any, path: str | Path) -> Path:
    """A full-page PNG of ``page`` at ``path`` (relative paths from the repository root,
    e.g. ``docs/setup-page.png``); folders are created. Returns the absolute path."""
    target = Path(path)
    if not target.is_absolute():
        target = ROOT / target
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    return target
