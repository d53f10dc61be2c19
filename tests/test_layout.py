"""The layout DESIGN.md draws holds in the code: imports point one way down the layers, no
import cycle, no module file name used twice, a small root of pure modules. Read from the
source by the project's own script (``python .ci/imports.py``), nothing imported."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _imports_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("imports_report", ROOT / ".ci" / "imports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_imports_point_down_the_layers_without_cycles_or_twins() -> None:
    imports = _imports_script()
    lines, problems = imports.report(ROOT)
    assert problems == [], "\n".join(lines)


def test_the_checker_sees_an_import_that_points_up(tmp_path: Path) -> None:
    """The check can fail: a store module that imports a handler is reported."""
    imports = _imports_script()
    for package in ("bot/store", "handlers"):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "bot" / "__init__.py").write_text("")
    (tmp_path / "handlers" / "spec.py").write_text("from bot.store import ledger\n")
    (tmp_path / "bot" / "store" / "ledger.py").write_text("from handlers import spec\n")
    _, problems = imports.report(tmp_path)
    assert "bot.store.ledger -> handlers.spec" in problems
    assert any("<->" in p for p in problems)  # and the cycle it makes


def test_the_root_of_bot_holds_only_a_few_pure_modules() -> None:
    root_modules = sorted(p.stem for p in (ROOT / "bot").glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(root_modules) <= 10, root_modules
    for name in root_modules:  # the bottom layer imports nothing of the project's but itself
        text = (ROOT / "bot" / f"{name}.py").read_text()
        for package in ("cli", "edge", "work", "dispatch", "github", "answers", "llm", "prompts", "store"):
            assert f"from bot.{package}" not in text and f"import bot.{package}" not in text, (name, package)
