"""The layout is the architecture (docs/architecture.md): these checks keep it so.

The import graph is read from the source (every import, including those under
``TYPE_CHECKING`` and inside functions), so a circle or a layer breach fails here
before it confuses a reader.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "evedge"


def _module(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """module -> the modules (evedge's and third-party top-level names) it imports."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[:len(parts) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if candidate in modules else base)
        graph[name] = found
    return graph


GRAPH = _imports()


def _evedge_edges(name: str) -> set[str]:
    return {target for target in GRAPH[name] if target in GRAPH and target != name}


def test_no_import_circle():
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(_evedge_edges(name)):
            if target.startswith(name + "."):
                continue  # a package importing its own modules (its __init__)
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if state.get(target) is None:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def _third_party(name: str) -> set[str]:
    return {target.split(".")[0] for target in GRAPH[name]}


@pytest.mark.parametrize("library, allowed", [
    ("ocpp", ("evedge.chargers", "evedge.simulation")),
    ("tornado", ("evedge.web", "evedge.simulation", "evedge.server")),
    ("peewee", ("evedge.storage", "evedge.domain")),
    ("pyftpdlib", ("evedge.ftp",)),
    ("prometheus_client", ("evedge.metrics", "evedge.metric_collectors")),
])
def test_libraries_are_imported_only_in_their_rooms(library, allowed):
    breaches = sorted(name for name in GRAPH if library in _third_party(name)
                      and not any(name == room or name.startswith(room + ".")
                                  for room in allowed))
    assert breaches == [], f"{library} imported outside {allowed}: {breaches}"


def test_the_domain_stands_on_storage_only():
    """Domain rules import neither the OCPP layer, nor the web layer, nor the container."""
    for name in GRAPH:
        if name.startswith("evedge.domain"):
            bad = sorted(t for t in _evedge_edges(name) if t.startswith(
                ("evedge.chargers", "evedge.web", "evedge.services", "evedge.server")))
            assert bad == [], f"{name} imports {bad}"


def test_the_ftp_server_is_a_transport_beside_the_web():
    """evedge/ftp/ stands on the domain, like web/; neither imports the other, and neither
    it nor the domain imports the OCPP layer."""
    for name in GRAPH:
        edges = _evedge_edges(name)
        if name.startswith("evedge.ftp"):
            bad = sorted(t for t in edges if t.startswith(
                ("evedge.web", "evedge.chargers", "evedge.services", "evedge.server",
                 "evedge.storage.sql", "evedge.storage.models")))
            assert bad == [], f"{name} imports {bad}"
        if name.startswith("evedge.web"):
            assert not any(t.startswith("evedge.ftp") for t in edges), name


def test_handlers_never_run_sql():
    for name in GRAPH:
        if name.startswith("evedge.web"):
            assert "evedge.storage.sql" not in GRAPH[name], f"{name} imports storage.sql"


def test_load_management_stays_out_of_the_ocpp_and_web_rooms():
    """It reacts to events and sends through a sender it is given (docs/architecture.md)."""
    for name in GRAPH:
        if name.startswith("evedge.load_management"):
            bad = sorted(t for t in _evedge_edges(name) if t.startswith(
                ("evedge.chargers", "evedge.web", "evedge.services", "evedge.server",
                 "evedge.storage")))
            assert bad == [], f"{name} imports {bad}"
