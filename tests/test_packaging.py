"""templates/ must ship inside a non-editable install (the Action installs that way)."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_templates_and_renders_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        cwd=tmp_path,
    )
    wheel = next(wheels.glob("model_routing_bot-*.whl"))
    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # jinja2 is all that rendering needs; the wheel itself goes in without its other deps.
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel), "jinja2", "markupsafe"], check=True)
    code = (
        "import bot.templates, pathlib;"
        "print(pathlib.Path(bot.templates.__file__).parent.parent);"
        "print(bot.templates.render('comments/footer.md.j2', results=[], note='NOTE-42'))"
    )
    out = subprocess.run([str(py), "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    installed_at = Path(out.splitlines()[0])
    assert ROOT not in installed_at.parents and installed_at != ROOT
    assert "NOTE-42" in out
    assert "never merges or approves" in out
