"""Helpers shared by the benchmarks: machine facts, process measurement, fixtures, results.

The benchmarks are scripts run by hand (``bench/run`` or ``bench/<name>``), never by CI. Each
writes its figures to ``bench/results/<name>.json`` and re-renders ``bench/RESULTS.md`` from all
of them (see ``bench/report.py``), so running one benchmark alone keeps the others' figures.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS_DIR = BENCH / "results"
SCRATCH = BENCH / "out"  # git-ignored: data dirs, logs, the probot install
PYTHON = REPO / ".venv" / "bin" / "python"
MODEL_ROUTING = REPO / ".venv" / "bin" / "model-routing"
WEBHOOK_EXAMPLES_VERSION = "7.6.1"  # @octokit/webhooks-examples, same as .ci/fetch-github-fixtures

if str(REPO) not in sys.path:  # the benchmarks import bot.* and tests.fakes.*
    sys.path.insert(0, str(REPO))


def in_venv(script: str) -> None:
    """Re-run ``script`` with the checkout's venv interpreter when started with another one, so
    every benchmark runs as ``bench/<name>`` and measures the bot as installed there."""
    if Path(sys.prefix).resolve() != (REPO / ".venv").resolve() and PYTHON.exists():
        os.execv(str(PYTHON), [str(PYTHON), script, *sys.argv[1:]])


# ---------------------------------------------------------------------------- statistics


def median(values: Iterable[float]) -> float:
    data = list(values)
    return float(statistics.median(data)) if data else float("nan")


def fmt(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.{digits}f}"


# ---------------------------------------------------------------------------- the machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(_mem_total_gib(), 1),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def versions(*extra_packages: str) -> dict[str, str]:
    """Versions of the Python packages that shape the figures, plus any tools named."""
    names = ("model-routing-bot", "uvicorn", "starlette", "httptools", "uvloop", "h11", "huey",
             "githubkit", "litellm", "tiktoken", "httpx", *extra_packages)
    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def tool_version(*argv: str) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


# ---------------------------------------------------------------------------- processes


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            kids.append(int(entry.name))
    return kids


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process and all its descendants, summed."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += _status_kib(current, "VmHWM")
        todo.extend(_children(current))
    return total / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any] | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM the process we started, then SIGKILL if it does not go."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


# ---------------------------------------------------------------------------- webhooks


def fixtures_dir() -> Path:
    return Path(os.environ.get("MODEL_ROUTING_FIXTURES") or Path.home() / ".cache" / "model-routing-bot")


def _find_examples_index() -> Path | None:
    root = fixtures_dir()
    if not root.is_dir():
        return None
    for path in sorted(root.rglob("index.json")):
        if path.parent.name == "api.github.com" and "webhooks-examples" in str(path):
            return path
    return None


def webhook_examples() -> list[dict[str, Any]]:
    """@octokit/webhooks-examples' api.github.com index: the one .ci/fetch-github-fixtures
    caches, or else the same package fetched with ``npm pack`` into the same cache."""
    index = _find_examples_index()
    if index is None:
        target = fixtures_dir() / "bench-webhooks-examples"
        target.mkdir(parents=True, exist_ok=True)
        spec = f"@octokit/webhooks-examples@{WEBHOOK_EXAMPLES_VERSION}"
        subprocess.run(["npm", "pack", "--silent", spec], cwd=target, check=True,
                       stdout=subprocess.DEVNULL, timeout=300)
        tarball = next(target.glob("octokit-webhooks-examples-*.tgz"))
        subprocess.run(["tar", "xzf", tarball.name], cwd=target, check=True, timeout=60)
        index = target / "package" / "api.github.com" / "index.json"
        # the path above holds no "webhooks-examples" part; make it findable next time
        link = target / "webhooks-examples"
        if not link.exists():
            link.symlink_to(target / "package", target_is_directory=True)
    return json.loads(index.read_text())


def example_payload(event: str, action: str) -> dict[str, Any]:
    for entry in webhook_examples():
        if entry.get("name") == event:
            for example in entry.get("examples", []):
                if example.get("action") == action:
                    return dict(example)
    raise LookupError(f"no {event}.{action} example in @octokit/webhooks-examples")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------- results


def target_row(target: str, measured: str, met: bool | None, why: str = "") -> dict[str, Any]:
    """One target for the summary: met is None when it could not be measured in this run."""
    return {"target": target, "measured": measured, "met": met, "why": why}


def save_result(
    name: str,
    title: str,
    command: str,
    runs: int,
    tables: Sequence[dict[str, Any]],
    targets: Sequence[dict[str, Any]],
    notes: Sequence[str] = (),
    extra_versions: dict[str, str] | None = None,
) -> Path:
    """Write bench/results/<name>.json and re-render bench/RESULTS.md."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    data = {
        "name": name,
        "title": title,
        "command": command,
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": {**versions(), **(extra_versions or {})},
        "runs": runs,
        "tables": list(tables),
        "targets": list(targets),
        "notes": list(notes),
    }
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    from report import render  # bench/report.py, next to this file

    render()
    return path


def table(caption: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    return {"caption": caption, "columns": list(columns), "rows": [[str(c) for c in r] for r in rows]}


def require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise SystemExit(f"{tool} is not installed: {hint}")
    return path
