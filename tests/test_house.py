"""The house rules of the package, checked over its source: the agents never load
the web, no module outside appliance/web imports it, and no import cycle exists."""
from __future__ import annotations

import ast
import os
import subprocess
import sys

import appliance

ROOT = os.path.dirname(appliance.__file__)


def _modules() -> dict[str, str]:
    """{dotted module name: path} of every module of the package."""
    found = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py") and "migrations" not in folder:
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


def _imports(path: str, package: str, known: set[str]) -> set[str]:
    """Modules of the package that `path` imports, anywhere in it (an import inside a
    function hides a cycle from Python; it is still a cycle)."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name in known and name != package}


def test_no_module_outside_the_web_imports_it():
    modules = _modules()
    offenders = {name: sorted(i for i in _imports(path, name, set(modules))
                              if i == "appliance.web" or i.startswith("appliance.web."))
                 for name, path in modules.items()
                 if not (name == "appliance.web" or name.startswith("appliance.web."))}
    assert not {k: v for k, v in offenders.items() if v}


def test_no_import_cycle():
    modules = _modules()
    graph = {name: _imports(path, name, set(modules)) for name, path in modules.items()}
    # A package's __init__ runs before any of its modules: not an edge to follow back.
    visiting, done, cycles = set(), set(), []

    def visit(node, trail):
        if node in done:
            return
        if node in visiting:
            cycles.append(trail[trail.index(node):] + [node])
            return
        visiting.add(node)
        for target in sorted(graph[node]):
            if not node.startswith(target + "."):
                visit(target, trail + [node])
        visiting.discard(node)
        done.add(node)

    for name in sorted(graph):
        visit(name, [])
    assert not cycles, " -> ".join(cycles[0])


def test_the_agents_and_the_cli_do_not_load_flask():
    code = ("import sys, appliance.agents.server, appliance.agents.submit, appliance.cli; "
            "print(sorted(m for m in sys.modules "
            "if m == 'flask' or m.startswith('appliance.web')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"


def test_an_hc_process_computes_no_password_hash_at_start():
    code = ("import werkzeug.security as s, sys; calls = []; "
            "s.generate_password_hash = lambda *a, **k: calls.append(a) or 'x'; "
            "import appliance.cli, appliance.accounts; print(len(calls))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "0"
