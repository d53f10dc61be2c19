"""The import structure of bot/ and handlers/, from their own source (AST, nothing imported).

    python .ci/imports.py [ROOT]          figures: modules, arrows, levels, cycles, arrows up
    python .ci/imports.py --check [ROOT]  exit 1 when an import points up the layers or forms a cycle

Layers, top to bottom (DESIGN.md, "Shape of the code"); a module may import its own package
and any package below it, never one above. Type-only imports (under ``if TYPE_CHECKING:``)
count too: they are the same dependency, only deferred.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

LAYERS = ["bot.cli", "bot.edge", "bot.work", "handlers", "bot.prompts", "bot.dispatch",
          "bot.github", "bot.answers", "bot.llm", "bot.store", "bot"]


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for top in ("bot", "handlers"):
        for path in sorted((root / top).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def arrows(root: Path) -> dict[str, set[str]]:
    mods = modules(root)
    out: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    out[name].add(target)
                    break
    return {m: out.get(m, set()) for m in mods}


def layer(module: str) -> int:
    if module == "bot.__main__":  # the entry point: the CLI's
        return 0
    for i, prefix in enumerate(LAYERS):
        if module == prefix or (module.startswith(prefix + ".") and (prefix != "bot" or module.count(".") == 1)):
            return i
    return len(LAYERS)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def levels(graph: dict[str, set[str]]) -> int:
    """Import depth: the longest chain of arrows, a cycle counted as one module."""
    comp_of = {m: i for i, comp in enumerate(cycles(graph)) for m in comp}
    memo: dict[str, int] = {}

    def depth(v: str, seen: frozenset[str]) -> int:
        if v in memo:
            return memo[v]
        nxt = [w for w in graph[v] if w not in seen and comp_of.get(w, w) != comp_of.get(v, v)]
        memo[v] = 1 + max((depth(w, seen | {w}) for w in nxt), default=0)
        return memo[v]

    return max((depth(v, frozenset({v})) for v in graph), default=0)


def report(root: Path) -> tuple[list[str], list[str]]:
    graph = arrows(root)
    up = sorted(f"{a} -> {b}" for a, bs in graph.items() for b in bs if layer(b) < layer(a))
    loops = cycles(graph)
    root_modules = [m for m in graph if m.count(".") == 1 and m.startswith("bot.") and not (root / m.replace(".", "/")).is_dir()]
    names: dict[str, list[str]] = defaultdict(list)
    for m, p in modules(root).items():
        if p.name not in ("__init__.py", "__main__.py"):
            names[p.name].append(m)
    twins = sorted(f"{n}: {', '.join(ms)}" for n, ms in names.items() if len(ms) > 1)
    lines = [
        f"modules: {len(graph)} ({len(root_modules)} at bot/'s root)",
        f"import arrows: {sum(len(v) for v in graph.values())}",
        f"levels (longest import chain): {levels(graph)}",
        f"cycles: {len(loops)}" + "".join(f"\n  {' <-> '.join(c)}" for c in loops),
        f"arrows pointing up the layers: {len(up)}" + "".join(f"\n  {a}" for a in up),
        f"file names used twice: {len(twins)}" + "".join(f"\n  {t}" for t in twins),
    ]
    return lines, up + [" <-> ".join(c) for c in loops] + twins


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    root = Path(args[0]) if args else Path(__file__).resolve().parent.parent
    lines, problems = report(root)
    print("\n".join(lines))
    return 1 if check and problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
