"""The house rules, read from the source: no import cycle in the package, no module importing another module's
underscore names, no file over 400 lines, no function over 80 lines unless a comment on the line before its
``def`` says why (``# long: ...``). docs/architecture.md states them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "blobbotronic"
MAX_FILE, MAX_FUNCTION = 400, 80
# Known debts (issue 26), each to be removed from here when fixed; anything new fails.
KNOWN_CYCLES: list[list[str]] = []
KNOWN_LONG_FILES: set[str] = set()


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(mods: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """Each module's imports of other package modules (at any depth: a function-level import still ties two
    modules), and the cross-module underscore imports."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    private = []
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                src = resolve(mod, node, path.name == "__init__.py")
                targets = [(f"{src}.{a.name}" if f"{src}.{a.name}" in mods else src, a.name) for a in node.names]
            else:
                continue
            for target, name in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != mod:
                    graph[mod].add(target)
                    if name and name.startswith("_") and not name.startswith("__"):
                        private.append(f"{mod}:{node.lineno} imports {name} from {target}")
    return graph, private


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), ignoring a package's own __init__
    importing its submodules (a registry package imports the modules that register into it)."""
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def long_functions(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            n = node.end_lineno - node.lineno + 1
            why = first >= 2 and lines[first - 2].strip().startswith("# long:")
            if n > MAX_FUNCTION and not why:
                out.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}: {n} lines")
    return out


def test_no_import_cycle():
    graph, _ = imports(modules())
    assert [c for c in cycles(graph) if c not in KNOWN_CYCLES] == []


def test_no_module_imports_another_modules_private_names():
    assert imports(modules())[1] == []


def test_no_file_over_400_lines():
    long = [f"{p.relative_to(PACKAGE.parent)}: {n}" for p in modules().values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE
            and str(p.relative_to(PACKAGE.parent)) not in KNOWN_LONG_FILES]
    assert long == []


def test_no_function_over_80_lines_without_a_reason():
    assert [f for p in modules().values() for f in long_functions(p)] == []


def test_the_checks_can_fail():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"p": {"p.x"}, "p.x": {"p"}}) == []  # a package importing its own registering submodules
