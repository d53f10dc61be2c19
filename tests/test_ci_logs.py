"""The CI-failure test data: a real pytest run on a project with a real bug, in a GitHub Actions
job log (tests/fakes/ci_logs.py)."""

from __future__ import annotations

import re

import pytest

from tests.fakes.ci_logs import (
    START,
    CIFailure,
    annotations,
    error_commands,
    failing_ci_run,
    job_log,
)

FAILED = "FAILED tests/test_report.py::test_moving_average - IndexError: list index out of range"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z ")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> CIFailure:
    return failing_ci_run(tmp_path_factory.mktemp("ci"))


def test_the_real_pytest_fails_on_the_bug(run: CIFailure) -> None:
    assert run.exit_code == 1  # pytest's "tests failed"
    assert run.command[1:] == ["-m", "pytest"]
    out = run.pytest_output
    assert FAILED in out.splitlines()
    assert re.search(r"^=+ 1 failed, 2 passed in [\d.]+s =+$", out, re.M)
    # the traceback crosses files: the test, the importing module, the buggy one
    path, line = run.bug
    assert path == "textstats/windows.py"
    assert "tests/test_report.py:7: " in out
    assert "textstats/report.py:8: in moving_average" in out
    assert f"{path}:{line}: in windows" in out
    assert f"{path}:{line}: IndexError" in out
    buggy = (run.project / path).read_text().splitlines()[line - 1]
    assert "start + width + 1" in buggy and buggy.strip() in out


def test_the_job_log_wraps_the_output_in_githubs_format(run: CIFailure) -> None:
    lines = run.log.splitlines()
    assert all(STAMP.match(line) for line in lines)
    assert lines[0].startswith("2026-12-06T08:00:01.0000000Z ")
    bare = [STAMP.sub("", line) for line in lines]
    assert "##[group]Run python -m pytest" in bare
    start = bare.index("##[endgroup]", bare.index("##[group]Run python -m pytest")) + 1
    output = run.pytest_output.splitlines()
    assert bare[start:start + len(output)] == output  # pytest's lines, untouched
    assert FAILED in bare
    assert bare[start + len(output):start + len(output) + 2] == [
        "##[error]IndexError: list index out of range",  # the ::error command, as logged
        "##[error]Process completed with exit code 1.",
    ]
    stamps = [line[:28] for line in lines]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_annotations_point_at_the_innermost_frame(run: CIFailure) -> None:
    path, line = run.bug
    assert run.commands == [f"::error file={path},line={line},title=test_moving_average failed"
                            "::IndexError: list index out of range"]
    assert run.annotations == [{
        "path": path, "start_line": line, "end_line": line, "start_column": None,
        "end_column": None, "annotation_level": "failure", "title": "test_moving_average failed",
        "message": "IndexError: list index out of range", "raw_details": None,
    }]


def test_commands_escape_and_round_trip() -> None:
    output = "\n".join([
        "=== FAILURES ===",
        "___ test_odd ___",
        "E   assert 1 == 2",
        "E   AssertionError: 100% wrong, a:b",
        "pkg/mod,x.py:3: AssertionError",
        "=== short test summary info ===",
    ])
    commands = error_commands(output)
    assert commands == ["::error file=pkg/mod%2Cx.py,line=3,title=test_odd failed"
                        "::AssertionError: 100%25 wrong, a:b"]
    [note] = annotations(commands)
    assert note["path"] == "pkg/mod,x.py" and note["start_line"] == 3
    assert note["message"] == "AssertionError: 100% wrong, a:b"


def test_a_passing_run_has_no_error_lines() -> None:
    log = job_log("=== 3 passed in 0.01s ===\n", 0, start=START)
    assert "##[error]" not in log
    assert log.splitlines()[-3].endswith(" === 3 passed in 0.01s ===")
