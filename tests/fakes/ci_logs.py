"""A failing CI run as test data, made by the real tool: a small Python project with a real bug,
run under the real ``python -m pytest``, and the GitHub Actions job log it would leave.

``failing_ci_run(tmp_path)`` writes the project, runs pytest on it in a subprocess (this
interpreter, so the pytest installed here), and wraps the untouched pytest output in the raw job
log format GitHub Actions keeps (every line prefixed with a ``2026-12-06T08:00:01.1234567Z``
timestamp, ``##[group]``/``##[endgroup]`` around step headers, ``##[error]Process completed with
exit code 1.`` after the failing step). Only the wrapper is made here; the pytest part is the
tool's own output.

The bug: ``textstats/windows.py`` takes one value too many into each window (``range(start,
start + width + 1)``), so the last window runs past the end; ``textstats/report.py``'s
``moving_average`` (which imports it) raises ``IndexError`` on that line, and the traceback runs
from the test through ``report.py`` into ``windows.py``.

Annotations are made as a workflow would make them: ``::error file=...,line=...::message``
commands, one per failed test at the innermost frame of its traceback. The runner writes such a
command to the log as ``##[error]message`` and turns it into a check-run annotation, whose shape
``annotations`` returns.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

START = datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)
BUG_MARK = "# up to the end of the window"

PROJECT: dict[str, str] = {
    "pyproject.toml": """\
[project]
name = "textstats"
version = "0.1.0"
requires-python = ">=3.9"

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
addopts = "-p no:cacheprovider"
""",
    "textstats/__init__.py": '"""Small statistics over sequences."""\n',
    "textstats/windows.py": f'''\
"""Sliding windows over a sequence."""


def windows(values, width):
    """Every run of ``width`` consecutive values, in order."""
    if width <= 0:
        raise ValueError("width must be positive")
    found = []
    for start in range(len(values) - width + 1):
        found.append([values[i] for i in range(start, start + width + 1)])  {BUG_MARK}
    return found
''',
    "textstats/report.py": '''\
"""Summaries built on windows."""

from textstats.windows import windows


def moving_average(values, width):
    """The mean of every window of ``width`` values."""
    return [sum(window) / width for window in windows(values, width)]


def peak(values):
    return max(values) if values else None
''',
    "tests/test_report.py": '''\
import pytest

from textstats.report import moving_average, peak


def test_moving_average():
    assert moving_average([1, 2, 3, 4], 2) == [1.5, 2.5, 3.5]


def test_width_must_be_positive():
    with pytest.raises(ValueError):
        moving_average([1, 2], 0)


def test_peak():
    assert peak([3, 9, 4]) == 9
''',
}


@dataclass
class CIFailure:
    project: Path
    command: list[str]  # as run, in ``project``
    exit_code: int  # pytest's
    pytest_output: str  # stdout and stderr of the real run, untouched
    log: str  # the GitHub Actions job log around it
    bug: tuple[str, int]  # the buggy file (relative to the project) and line
    commands: list[str] = field(default_factory=list)  # ::error workflow commands
    annotations: list[dict[str, Any]] = field(default_factory=list)  # check-run annotation shape


def write_project(root: Path) -> tuple[str, int]:
    """Write the buggy project under ``root``; the bug's file and line."""
    for rel, text in PROJECT.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    rel = "textstats/windows.py"
    line = next(n for n, text in enumerate(PROJECT[rel].splitlines(), 1) if BUG_MARK in text)
    return rel, line


def run_pytest(project: Path, python: str = sys.executable) -> tuple[list[str], int, str]:
    """Run ``python -m pytest`` in ``project`` as a CI runner would (no terminal, no colour);
    the command, the exit code and the combined output."""
    command = [python, "-m", "pytest"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "PY_COLORS", "FORCE_COLOR", "PYTHON"))}
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1", COLUMNS="120",
               NO_COLOR="1", CI="true", GITHUB_ACTIONS="true")
    done = subprocess.run(command, cwd=project, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120, check=False)
    return command, done.returncode, done.stdout


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as @actions/core does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


_SECTION = re.compile(r"^_{3,} (\S+) _{3,}$")  # ____ test_moving_average ____
_LOCATION = re.compile(r"^(\S+\.py):(\d+): (\w+(?:\.\w+)*)$")  # textstats/windows.py:9: IndexError
_ERROR = re.compile(r"^E\s+(.*)$")


def error_commands(pytest_output: str) -> list[str]:
    """One ``::error`` command per failed test, at its traceback's innermost location."""
    commands: list[str] = []
    test: str | None = None
    where: tuple[str, str, str] | None = None
    message: str | None = None

    def flush() -> None:
        if test and where:
            path, line, kind = where
            title = f"{test} failed"
            text = f"{kind}: {message}" if message and not message.startswith(kind) else \
                (message or kind)
            commands.append(f"::error file={escape_property(path)},line={line},"
                            f"title={escape_property(title)}::{escape_data(text)}")

    for raw in pytest_output.splitlines():
        section = _SECTION.match(raw)
        if section or (raw.startswith("=") and test):
            flush()
            test, where, message = (section.group(1) if section else None), None, None
            continue
        located = _LOCATION.match(raw)
        if test and located:
            where = located.groups()
        error = _ERROR.match(raw)
        if test and error:
            message = error.group(1).strip()
    flush()
    return commands


_COMMAND = re.compile(r"^::(error|warning|notice)(?: (?P<props>[^:]*))?::(?P<message>.*)$")


def _unescape(text: str) -> str:
    return (text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":")
            .replace("%2C", ",").replace("%25", "%"))


def annotations(commands: list[str]) -> list[dict[str, Any]]:
    """The check-run annotations the runner makes of these workflow commands (the fields
    ``GET /repos/{owner}/{repo}/check-runs/{id}/annotations`` answers)."""
    level = {"error": "failure", "warning": "warning", "notice": "notice"}
    found: list[dict[str, Any]] = []
    for command in commands:
        match = _COMMAND.match(command)
        if match is None:
            continue
        props: dict[str, str] = {}
        for pair in (match.group("props") or "").split(","):
            key, _, value = pair.partition("=")
            if key:
                props[key.strip()] = _unescape(value)
        line = int(props.get("line", "1"))
        found.append({
            "path": props.get("file", ".github"),
            "start_line": line,
            "end_line": int(props.get("endLine", line)),
            "start_column": int(props["col"]) if "col" in props else None,
            "end_column": int(props["endColumn"]) if "endColumn" in props else None,
            "annotation_level": level[match.group(1)],
            "title": props.get("title"),
            "message": _unescape(match.group("message")),
            "raw_details": None,
        })
    return found


def _workflow_message(command: str) -> str:
    match = _COMMAND.match(command)
    return _unescape(match.group("message")) if match else command


def _illustrative_sha(action: str) -> str:
    """A stand-in commit for the log's download lines (not the action's real commit)."""
    return hashlib.sha1(action.encode()).hexdigest()


def _version(package: str) -> str:
    """The installed version, so the log's install line matches the run's header."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "0"


def job_log(pytest_output: str, exit_code: int, *, run: str = "python -m pytest",
            commands: list[str] | None = None, start: datetime = START,
            python_version: str = "3.11.7", step_seconds: float = 0.0123457) -> str:
    """The raw job log of a job that checks out, sets up Python, installs, and runs ``run``
    (printing ``pytest_output`` and, as the runner renders them, ``commands``)."""
    tool = f"/opt/hostedtoolcache/Python/{python_version}/x64"
    lines = [
        "Current runner version: '2.329.0'",
        "##[group]Operating System",
        "Ubuntu",
        "24.04.3",
        "LTS",
        "##[endgroup]",
        "##[group]Runner Image",
        "Image: ubuntu-24.04",
        "Version: 20261130.1.0",
        "##[endgroup]",
        "##[group]GITHUB_TOKEN Permissions",
        "Contents: read",
        "Metadata: read",
        "##[endgroup]",
        "Secret source: Actions",
        "Prepare workflow directory",
        "Prepare all required actions",
        "Getting action download info",
        *(f"Download action repository '{action}' (SHA:{_illustrative_sha(action)})"
          for action in ("actions/checkout@v4", "actions/setup-python@v5")),
        "Complete job name: test",
        "##[group]Run actions/checkout@v4",
        "with:",
        "  repository: acme/textstats",
        "  fetch-depth: 1",
        "##[endgroup]",
        "Syncing repository: acme/textstats",
        "##[group]Run actions/setup-python@v5",
        "with:",
        f"  python-version: {python_version.rsplit('.', 1)[0]}",
        "##[endgroup]",
        "##[group]Installed versions",
        f"Successfully set up CPython ({python_version})",
        "##[endgroup]",
        "##[group]Run python -m pip install pytest",
        "python -m pip install pytest",
        "shell: /usr/bin/bash -e {0}",
        "env:",
        f"  pythonLocation: {tool}",
        f"  LD_LIBRARY_PATH: {tool}/lib",
        "##[endgroup]",
        "Successfully installed " + " ".join(f"{name}-{_version(name)}" for name in
                                             ("iniconfig", "packaging", "pluggy", "pygments",
                                              "pytest")),
        f"##[group]Run {run}",
        run,
        "shell: /usr/bin/bash -e {0}",
        "env:",
        f"  pythonLocation: {tool}",
        f"  LD_LIBRARY_PATH: {tool}/lib",
        "##[endgroup]",
        *pytest_output.splitlines(),
        *(f"##[error]{_workflow_message(c)}" for c in commands or []),
    ]
    if exit_code:
        lines.append(f"##[error]Process completed with exit code {exit_code}.")
    lines += ["Post job cleanup.", "Cleaning up orphan processes"]
    stamped = []
    for n, line in enumerate(lines):
        at = start + timedelta(seconds=1 + n * step_seconds)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond * 10:07d}Z"
        stamped.append(f"{stamp} {line}")
    return "\n".join(stamped) + "\n"


def failing_ci_run(tmp_dir: Path, python: str = sys.executable,
                   start: datetime = START) -> CIFailure:
    """Write the buggy project in ``tmp_dir``, run the real pytest on it, and build the job
    log and annotations around its output."""
    project = Path(tmp_dir) / "textstats"
    bug = write_project(project)
    command, code, output = run_pytest(project, python)
    commands = error_commands(output)
    log = job_log(output, code, commands=commands, start=start)
    return CIFailure(project, command, code, output, log, bug, commands, annotations(commands))


if __name__ == "__main__":  # python -m tests.fakes.ci_logs DIR: print the job log
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(failing_ci_run(Path(sys.argv[1] if len(sys.argv) > 1 else tmp)).log, end="")
