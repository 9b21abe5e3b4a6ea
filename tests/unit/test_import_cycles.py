"""The package's modules import one another without a cycle, and translation stays pure.

Every ``import`` statement counts: at module level, inside functions, and
under ``if TYPE_CHECKING:`` (a cycle there is a cycle in the design, and one
runtime import away from a partly initialised module).  Importing
``a.b.c`` also imports the packages ``a.b`` and ``a``, so those count too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set

PACKAGE = "hmpbridge"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE


def module_files(root: Path = ROOT) -> Dict[str, Path]:
    """Module name -> source file, for every module of the package."""
    found: Dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _with_parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def imported(name: str, path: Path) -> Set[str]:
    """Every module ``name`` (in ``path``) names in an import statement, and their packages."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.update(_with_parents(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] +
                                ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.update(_with_parents(base))
            # ``from package import module`` imports the module
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path = ROOT) -> Dict[str, Set[str]]:
    """Module -> the package's modules it imports (itself left out)."""
    files = module_files(root)
    return {name: {m for m in imported(name, path) if m in files and m != name}
            for name, path in files.items()}


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
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


def test_the_package_has_no_import_cycle() -> None:
    """No module of hmpbridge reaches itself again through the modules it imports."""
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle_made_by_a_type_checking_import(tmp_path: Path) -> None:
    """A cycle closed only under ``TYPE_CHECKING`` (as model -> access was) is found."""
    pkg = tmp_path / PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hmpbridge.access import X\n")
    (pkg / "access.py").write_text("from hmpbridge.handlers.misc import Y\n")
    (pkg / "handlers").mkdir()
    (pkg / "handlers" / "__init__.py").write_text("from .. import model\n")
    (pkg / "handlers" / "misc.py").write_text("def f():\n    from hmpbridge import model\n")
    (pkg / "plain.py").write_text("import hmpbridge.model\n")
    graph = import_graph(pkg)
    assert cycles(graph) == [["hmpbridge.access", "hmpbridge.handlers",
                              "hmpbridge.handlers.misc", "hmpbridge.model"]]
    assert graph["hmpbridge.plain"] == {"hmpbridge", "hmpbridge.model"}


def test_identity_is_plain_data_of_the_model() -> None:
    """Identity lives with the other plain values, so the model imports nothing of access."""
    from hmpbridge import model

    assert model.Identity.__module__ == "hmpbridge.model"
    assert "hmpbridge.access" not in imported("hmpbridge.model", ROOT / "model.py")


#: The pure translation layer (docs/architecture.md) and the stepping of its handlers.
TRANSLATION = ("profile", "commands", "hx", "hmp_elf", "tablegen", "hazards", "access",
               "grammar_gen", "hmp_parser", "transformer", "qemu_opts", "keyval", "qjson",
               "qapi_schema", "glib_order", "model", "completion", "stepping")

_LOADED = """
import importlib, pkgutil, sys
for name in sys.argv[1:]:
    importlib.import_module("hmpbridge." + name)
for package in ("hmpbridge.handlers", "hmpbridge.render"):
    module = importlib.import_module(package)
    for found in pkgutil.iter_modules(module.__path__):
        importlib.import_module(package + "." + found.name)
print(" ".join(sorted(m for m in sys.modules if m.startswith("twisted.internet"))))
"""


def test_translation_and_the_stepping_of_handlers_load_nothing_of_twisted_internet() -> None:
    """Handlers, renderers, the parser and :mod:`hmpbridge.stepping` run without a reactor."""
    loaded = subprocess.run([sys.executable, "-c", _LOADED, *TRANSLATION], cwd=ROOT.parent,
                            capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []
