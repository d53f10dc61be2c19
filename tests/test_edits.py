"""The edit format: parsing, validation, applying to a working copy, and the guards."""

from __future__ import annotations

import json

import pytest

from bot.answers.edit_guards import denied_by, screen
from bot.answers.edits import (
    WHOLE_FILE_MAX_BYTES,
    Change,
    EditPlan,
    FileEdit,
    SearchReplace,
    TreeItem,
    apply_plan,
    files_to_read,
    normalise_path,
)

BASE = {
    "README.md": b"# Demo\n",
    "app/__init__.py": b"",
    "app/core.py": b"def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
    "app/dup.py": b"x = 1\nx = 1\n",
    "bin/run.sh": b"#!/bin/sh\necho hi\n",
    "win.txt": b"one\r\ntwo\r\nthree\r\n",
    "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00",
}


def tree_of(files: dict[str, bytes]) -> dict[str, TreeItem]:
    tree: dict[str, TreeItem] = {}
    for path, content in files.items():
        mode = "100755" if path.endswith(".sh") else "100644"
        tree[path] = TreeItem(mode, "blob", len(content))
        parts = path.split("/")
        for i in range(1, len(parts)):
            tree["/".join(parts[:i])] = TreeItem("040000", "tree")
    return tree


TREE = tree_of(BASE)


def plan(*edits: dict[str, object], summary: str = "s") -> EditPlan:
    return EditPlan.model_validate({"summary": summary, "edits": list(edits)})


def test_plan_parses_from_the_documented_json() -> None:
    text = json.dumps(
        {
            "summary": "Add mul",
            "edits": [
                {"path": "app/mul.py", "action": "write", "content": "def mul(a, b):\n    return a * b\n"},
                {"path": "app/core.py", "action": "edit", "blocks": [{"search": "a - b", "replace": "a - b  # sub"}]},
                {"path": "README.md", "action": "delete"},
            ],
        }
    )
    parsed = EditPlan.model_validate_json(text)
    applied = apply_plan(parsed, TREE, BASE)
    assert applied.errors == []
    assert [(c.path, c.content is None) for c in applied.changes] == [
        ("README.md", True),
        ("app/core.py", False),
        ("app/mul.py", False),
    ]
    core = next(c for c in applied.changes if c.path == "app/core.py")
    assert core.content == BASE["app/core.py"].decode().replace("a - b", "a - b  # sub")


def test_blocks_apply_in_order_on_the_working_copy() -> None:
    applied = apply_plan(
        plan(
            {"path": "app/core.py", "action": "edit", "blocks": [
                {"search": "return a + b", "replace": "return a + b + 0"},
                {"search": "a + b + 0", "replace": "b + a"},
            ]},
            {"path": "app/core.py", "action": "edit", "blocks": [{"search": "def sub", "replace": "def minus"}]},
        ),
        TREE,
        BASE,
    )
    assert applied.errors == []
    (change,) = applied.changes
    assert "return b + a" in (change.content or "") and "def minus(a, b)" in (change.content or "")


def test_search_not_found_and_ambiguous_are_exact_errors() -> None:
    applied = apply_plan(
        plan(
            {"path": "app/core.py", "action": "edit", "blocks": [{"search": "return a * b", "replace": "x"}]},
            {"path": "app/dup.py", "action": "edit", "blocks": [{"search": "x = 1\n", "replace": "x = 2\n"}]},
        ),
        TREE,
        BASE,
    )
    assert applied.changes == []
    assert applied.errors[0].startswith("app/core.py: block 1: search text not found")
    assert "'return a * b'" in applied.errors[0]
    assert applied.errors[1] == (
        "app/dup.py: block 1: search text is ambiguous, found 2 times "
        "(add surrounding lines so it matches exactly once)"
    )


def test_whitespace_mismatch_gets_a_hint() -> None:
    applied = apply_plan(
        plan({"path": "app/core.py", "action": "edit", "blocks": [{"search": "def add(a, b):\n  return a + b", "replace": ""}]}),
        TREE,
        BASE,
    )
    assert "whitespace were ignored" in applied.errors[0]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("../outside.py", "path traversal"),
        ("app/../../etc/passwd", "path traversal"),
        ("/etc/passwd", "outside the repository"),
        ("C:/x.py", "outside the repository"),
        (".git/config", "inside .git/"),
        ("app//x.py", "empty path segment"),
        ("app\\x.py", "'/' separators"),
        ("", "empty path"),
    ],
)
def test_paths_outside_the_repository_are_errors(path: str, words: str) -> None:
    applied = apply_plan(plan({"path": path, "action": "write", "content": "x"}), TREE, BASE)
    assert applied.changes == []
    assert len(applied.errors) == 1 and words in applied.errors[0]


def test_leading_dot_slash_is_dropped() -> None:
    assert normalise_path("./app/x.py") == ("app/x.py", None)


def test_missing_files_and_wrong_shapes_are_errors() -> None:
    applied = apply_plan(
        plan(
            {"path": "app/nope.py", "action": "edit", "blocks": [{"search": "a", "replace": "b"}]},
            {"path": "app/gone.py", "action": "delete"},
            {"path": "app", "action": "write", "content": "x"},
            {"path": "README.md/x", "action": "write", "content": "x"},
            {"path": "app/core.py", "action": "edit", "content": "whole"},
            {"path": "app/new.py", "action": "write"},
            {"path": "logo.png", "action": "edit", "blocks": [{"search": "PNG", "replace": "GIF"}]},
        ),
        TREE,
        BASE,
    )
    assert applied.errors == [
        "app/nope.py: cannot edit, the file does not exist (use write to create it)",
        "app/gone.py: cannot delete, the file does not exist",
        "app: is a directory, not a file",
        "README.md/x: cannot create it, README.md is a file",
        "app/core.py: edit needs one or more search/replace blocks, and no content",
        "app/new.py: write needs the whole file in content, and no blocks",
        "logo.png: is not UTF-8 text; the bot does not edit binary files",
    ]


def test_large_existing_files_must_use_blocks() -> None:
    big = {"big.py": b"x = 1\n" * (WHOLE_FILE_MAX_BYTES // 6 + 10)}
    applied = apply_plan(plan({"path": "big.py", "action": "write", "content": "x = 2\n"}), tree_of(big), big)
    assert "with edit and search/replace blocks" in applied.errors[0]
    applied = apply_plan(
        plan({"path": "big.py", "action": "edit", "blocks": [{"search": "x = 1\n" * 3 + "x = 1\n" * (WHOLE_FILE_MAX_BYTES // 6 + 6) + "x = 1\n", "replace": "y\n"}]}),
        tree_of(big),
        big,
    )
    assert applied.errors == [] and applied.changes[0].content == "y\n"


def test_crlf_files_keep_their_line_endings() -> None:
    applied = apply_plan(
        plan({"path": "win.txt", "action": "edit", "blocks": [{"search": "one\ntwo\n", "replace": "one\n2\n"}]}),
        TREE,
        BASE,
    )
    assert applied.errors == []
    assert applied.changes[0].content == "one\r\n2\r\nthree\r\n"


def test_unchanged_writes_drop_out_and_modes_are_kept() -> None:
    applied = apply_plan(
        plan(
            {"path": "README.md", "action": "write", "content": "# Demo\n"},
            {"path": "bin/run.sh", "action": "edit", "blocks": [{"search": "echo hi", "replace": "echo hello"}]},
            {"path": "tmp.txt", "action": "write", "content": "t"},
            {"path": "tmp.txt", "action": "delete"},
        ),
        TREE,
        BASE,
    )
    assert applied.errors == []
    assert applied.changes == [Change("bin/run.sh", "#!/bin/sh\necho hello\n", "100755")]


def test_empty_plan_is_an_error() -> None:
    assert apply_plan(plan(), TREE, BASE).errors == ["the plan has no edits"]


def test_files_to_read_names_edited_and_small_rewritten_files() -> None:
    wanted = files_to_read(
        plan(
            {"path": "app/core.py", "action": "edit", "blocks": [{"search": "a", "replace": "b"}]},
            {"path": "README.md", "action": "write", "content": "x"},
            {"path": "new.py", "action": "write", "content": "x"},
            {"path": "win.txt", "action": "delete"},
        ),
        TREE,
    )
    assert wanted == ["app/core.py", "README.md"]


@pytest.mark.parametrize(
    ("path", "patterns", "expected"),
    [
        (".github/workflows/ci.yml", [], ".github/workflows/**"),
        (".GitHub/Workflows/ci.yml", [], ".github/workflows/**"),
        (".github/workflows/sub/x.yaml", [], ".github/workflows/**"),
        (".github/dependabot.yml", [], None),
        ("secrets/prod/key.txt", ["secrets/**"], "secrets/**"),
        ("deploy/certs/server.pem", ["*.pem"], "*.pem"),
        ("infra/main.tf", ["infra"], "infra"),
        ("infra.md", ["infra"], None),
        ("app/core.py", ["secrets/**", "*.pem"], None),
    ],
)
def test_deny_paths(path: str, patterns: list[str], expected: str | None) -> None:
    assert denied_by(path, patterns) == expected


def test_screen_refuses_denied_and_binary_and_keeps_the_rest() -> None:
    changes = [
        Change(".github/workflows/ci.yml", "on: push\n"),
        Change("app/a.py", "a = 1\n"),
        Change("app/blob.bin", "\x00\x01"),
        Change("app/bad.txt", "\udcff"),
        Change("old.py", None),
    ]
    result = screen(changes, ["nothing/**"], max_files=10, max_bytes=1000, base_sizes={"old.py": 40})
    assert [c.path for c in result.allowed] == ["app/a.py", "old.py"]
    assert [(r.path, r.reason) for r in result.refused] == [
        (".github/workflows/ci.yml", "deny path `.github/workflows/**`"),
        ("app/blob.bin", "binary content (NUL byte)"),
        ("app/bad.txt", "binary content (not valid UTF-8)"),
    ]
    assert result.bytes_changed == 6 + 40 and result.over_cap == ""


def test_screen_caps() -> None:
    changes = [Change(f"f{i}.txt", "x" * 10) for i in range(3)]
    assert screen(changes, [], max_files=2, max_bytes=1000).over_cap == "3 files changed, over the limit of 2"
    assert screen(changes, [], max_files=5, max_bytes=25).over_cap == "30 bytes changed, over the limit of 25"
    assert screen(changes, [], max_files=3, max_bytes=30).over_cap == ""


def test_models_build_directly() -> None:
    edit = FileEdit(path="a.py", action="edit", blocks=[SearchReplace(search="a", replace="b")])
    assert EditPlan(summary="s", edits=[edit]).edits[0].blocks[0].replace == "b"
