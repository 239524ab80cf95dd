"""The imports of the whole repository: no cycles, and the layers of ARCHITECTURE.md hold.

Every `import`/`from ... import` of every module of `q2c/`, `extractors/`, `orchestration/`,
`sandbox/` and `bench/` is read with `ast` (module level and inside functions alike: an import
deferred into a function is still a dependency), so new packages (`q2c/gates`, `q2c/exports`,
`q2c/reports`, `q2c/writeback`, `q2c/audit`, ...) are covered as soon as they exist.

Layers: `q2c/` imports nothing of ours; `extractors/` import only `q2c/`; `sandbox/` imports
nothing of the pipeline; `orchestration/` sits on top but imports `sandbox/` only from the
`q2c sandbox` command group (`orchestration/commands/sandbox.py`); `bench/` and the tests may
import anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("q2c", "extractors", "orchestration", "sandbox", "bench")
#: top-level package -> the top-level packages of ours it may import
ALLOWED = {
    "q2c": {"q2c"},
    "extractors": {"extractors", "q2c"},
    "orchestration": {"orchestration", "extractors", "q2c"},
    "sandbox": {"sandbox"},
    "bench": set(PACKAGES),
}
#: the modules of the pipeline allowed to import `sandbox` (the `q2c sandbox` command group)
SANDBOX_DOORS = {"orchestration.commands.sandbox"}


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of our packages."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(module of ours it imports, line) for every import in `path`.

    `from pkg import sub` names the submodule `pkg.sub` when there is one (importing a
    submodule of a package being initialized is not a cycle), else `pkg`.
    """
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                if path.name != "__init__.py":
                    package = package[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, *([node.module] if node.module else [])])
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for name in names:
            if name.split(".")[0] in PACKAGES:
                target = _resolve(name, known)
                if target and target != module:
                    yield target, node.lineno


def import_graph(root: Path = ROOT) -> dict[str, dict[str, int]]:
    """module -> {imported module of ours: first line}."""
    known = modules(root)
    graph: dict[str, dict[str, int]] = {}
    for module, path in known.items():
        edges: dict[str, int] = {}
        for target, line in imported(module, path, known):
            edges.setdefault(target, line)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, {}))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_violations(graph: dict[str, dict[str, int]]) -> list[str]:
    """Every import that crosses the layers the wrong way, as `module:line -> module`."""
    bad = []
    for module, edges in graph.items():
        layer = module.split(".")[0]
        for target, line in edges.items():
            other = target.split(".")[0]
            allowed = other in ALLOWED[layer] or (other == "sandbox" and module in SANDBOX_DOORS)
            if not allowed:
                bad.append(f"{module}:{line} -> {target}")
    return sorted(bad)


def test_no_module_of_ours_is_part_of_an_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_every_import_respects_the_layers_of_architecture_md() -> None:
    assert layer_violations(import_graph()) == []


def test_the_checks_see_a_cycle_a_deferred_import_and_a_layer_breach(tmp_path: Path) -> None:
    files = {
        "q2c/__init__.py": "",
        "q2c/a.py": "from q2c import b\n",
        "q2c/b.py": "def f():\n    from q2c.a import x\n",  # a deferred import still counts
        "q2c/c.py": "import orchestration.jobs\n",
        "extractors/__init__.py": "from sandbox import world\n",
        "orchestration/__init__.py": "",
        "orchestration/jobs.py": "from . import cli\n",
        "orchestration/cli.py": "from .commands import sandbox\n",
        "orchestration/commands/__init__.py": "",
        "orchestration/commands/sandbox.py": "import sandbox.world\n",
        "orchestration/commands/demo.py": "from sandbox.world import generate\n",
        "sandbox/__init__.py": "",
        "sandbox/world.py": "from q2c import a\n",
        "bench/__init__.py": "import sandbox.world, q2c.a\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path)
    assert cycles(graph) == [["q2c.a", "q2c.b"]]
    assert layer_violations(graph) == [
        "extractors:1 -> sandbox.world",
        "orchestration.commands.demo:1 -> sandbox.world",
        "q2c.c:1 -> orchestration.jobs",
        "sandbox.world:1 -> q2c.a",
    ]
