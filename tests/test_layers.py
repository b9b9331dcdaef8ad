"""Imports run one way through the house, and modules keep their private names to themselves.

Every module of ``crashlens_core`` is parsed (not imported) and every import in it is checked:
module level and inside functions, relative and absolute. An import may point to a module of
its own layer or a lower one, never a higher one (DESIGN.md, "The core, by concern"). A name
starting with one underscore is private to the module that defines it: no other module imports
it, and no module reaches into another module's object for it (``ws._helper()``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "crashlens_core"

# The declared layer order, lowest first, as (module prefix -> layer). The longest matching
# prefix decides a module's layer, so a package can hold a module of another layer if it must.
# Same-layer imports are allowed (signals and knowledge use each other's parsers); a module
# may never import one of a higher layer, even lazily inside a function: a lazy import hides
# the arrow but the dependency (and the cycle it makes possible) is the same.
LAYER_NAMES = ("base", "store", "ingest", "signals/knowledge", "rca", "kpi/bundle", "live/serve", "cli", "pages")
LAYERS: dict[str, int] = {
    # base: plain records, settings, errors and pure functions over text and JSON, no I/O beyond a file
    "crashlens_core": 0,            # the package itself (its __init__ imports nothing heavy)
    "crashlens_core.errors": 0,
    "crashlens_core.config": 0,
    "crashlens_core.models": 0,
    "crashlens_core.canonical": 0,
    "crashlens_core.redact": 0,     # masking is pure text work that store, rca and bundle all need
    "crashlens_core.redaction": 0,  # room for redact's rule modules if it grows into a package
    "crashlens_core.store": 1,
    "crashlens_core.ingest": 2,
    "crashlens_core.signals": 3,
    "crashlens_core.knowledge": 3,
    "crashlens_core.rca": 4,
    "crashlens_core.kpi": 5,
    "crashlens_core.bundle": 5,
    # orchestrators and outbound edges: they drive the layers below and talk to the world
    "crashlens_core.live": 6,
    "crashlens_core.serve": 6,
    "crashlens_core.pull": 6,       # pull connectors: query Prometheus / ClickHouse, then ingest (issue 16)
    "crashlens_core.slack": 6,      # posts off the machine: only the faces decide to do that
    "crashlens_core.simulate": 6,   # builds the demo workspace through ingest, signals and knowledge
    "crashlens_core.cli": 7,
    "crashlens_core.__main__": 7,
    # the Streamlit faces sit on top; nothing in the core may import them
    "app": 8,
    "pages": 8,
}


# Known violations being fixed on another branch at the same time (the rca helper's, issue 17):
# tolerated here by (importer, imported) so that any NEW violation still fails, and reported as
# soon as one is gone, so the entry is deleted with the fix instead of lingering as a loophole.
PENDING_LAYER: set[tuple[str, str]] = set()  # known violations still to fix (none left)
PENDING_PRIVATE: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Module:
    name: str      # dotted, e.g. crashlens_core.store.workspace
    path: Path
    is_package: bool

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]

    def where(self, line: int) -> str:
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{shown}:{line}"


@dataclass(frozen=True)
class Import:
    target: str    # the module imported from (resolved, dotted)
    names: tuple[str, ...]  # the names taken from it (empty for `import x`)
    line: int


def core_modules() -> list[Module]:
    out = []
    for path in sorted(CORE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out.append(Module(".".join(parts), path, is_package))
    return out


MODULES = core_modules()
MODULE_NAMES = {m.name for m in MODULES}


def imports_of(module: Module) -> list[Import]:
    """Every import statement in the module, wherever it is, with its target resolved."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = tuple(alias.name for alias in node.names)
            # `from pkg import submodule` imports the submodule: that is the arrow to check
            subs = [n for n in names if f"{target}.{n}" in MODULE_NAMES]
            found += [Import(f"{target}.{n}", (), node.lineno) for n in subs]
            rest = tuple(n for n in names if n not in subs)
            if rest or not subs:
                found.append(Import(target, rest, node.lineno))
    return found


def layer_of(name: str) -> int | None:
    """The layer of the longest declared prefix; the bare package name covers only itself."""
    parts = name.split(".")
    for i in range(len(parts), 1, -1):
        prefix = ".".join(parts[:i])
        if prefix in LAYERS:
            return LAYERS[prefix]
    return LAYERS.get(name)


def _is_ours(name: str) -> bool:
    top = name.split(".")[0]
    return top == "crashlens_core" or top in ("app", "pages")


def layer_violations(modules: list[Module] = MODULES) -> list[tuple[tuple[str, str], str]]:
    """((importer, imported), "file:line: what") for every import against the layer order."""
    out = []
    for module in modules:
        own = layer_of(module.name)
        for imp in imports_of(module):
            if not _is_ours(imp.target):
                continue
            theirs = layer_of(imp.target)
            if theirs is not None and own is not None and theirs > own:
                out.append(((module.name, imp.target), f"{module.where(imp.line)}: {module.name} ({LAYER_NAMES[own]}) "
                                                       f"imports {imp.target} ({LAYER_NAMES[theirs]})"))
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_import_violations(modules: list[Module] = MODULES) -> list[tuple[tuple[str, str], str]]:
    """`from x import _y` from another module, or a path through another package's `_module`:
    ((importer, private name), "file:line: what")."""
    out = []
    for module in modules:
        for imp in imports_of(module):
            if not imp.target.startswith("crashlens_core"):
                continue
            for name in imp.names:
                if _private(name) and imp.target != module.name:
                    out.append(((module.name, name), f"{module.where(imp.line)}: {module.name} imports private {name} "
                                                     f"from {imp.target}"))
            parts = imp.target.split(".")
            for i, part in enumerate(parts):
                owner = ".".join(parts[:i])  # the package a private module belongs to
                if _private(part) and not (module.name + ".").startswith(owner + "."):
                    out.append(((module.name, part), f"{module.where(imp.line)}: {module.name} imports from {imp.target}, "
                                                     f"private to {owner}"))
    return out


def _defined_private_names(tree: ast.AST) -> set[str]:
    """Private names a module defines: functions, classes, attributes it assigns, parameters."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name)
    return {n for n in names if _private(n)}


def private_attribute_violations(modules: list[Module] = MODULES) -> list[str]:
    """``obj._name`` where ``_name`` is defined by another core module and not by this one.

    A module may use its own private attributes on any object (its classes' instances passed
    around); reaching for one that only another module defines couples the two through a
    name that module is free to change.
    """
    trees = {m.name: ast.parse(m.path.read_text(encoding="utf-8")) for m in modules}
    owned = {name: _defined_private_names(tree) for name, tree in trees.items()}
    owners: dict[str, set[str]] = {}
    for name, privs in owned.items():
        for p in privs:
            owners.setdefault(p, set()).add(name)
    out = []
    for module in modules:
        for node in ast.walk(trees[module.name]):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and _private(node.attr) \
                    and node.attr not in owned[module.name] and node.attr in owners:
                who = ", ".join(sorted(owners[node.attr]))
                out.append(f"{module.where(node.lineno)}: {module.name} uses {node.attr}, private to {who}")
    return out


def _report(kind: str, violations: list[str]) -> str:
    return f"{len(violations)} {kind}:\n" + "\n".join(violations)


def _check(kind: str, found: list[tuple[tuple[str, str], str]], pending: set[tuple[str, str]]) -> None:
    print(_report(kind, [text for _, text in found]))  # every one, pending or not, with file:line
    new = [text for key, text in found if key not in pending]
    assert new == [], _report(kind, new)
    fixed = pending - {key for key, _ in found}
    assert fixed == set(), f"fixed, so delete from the PENDING list in tests/test_layers.py: {sorted(fixed)}"


def test_every_core_module_has_a_declared_layer():
    undeclared = [m.name for m in MODULES if layer_of(m.name) is None]
    assert undeclared == [], "declare these in LAYERS (tests/test_layers.py): " + ", ".join(undeclared)


def test_imports_run_one_way_through_the_layers():
    _check("imports against the layer order", layer_violations(), PENDING_LAYER)


def test_no_module_imports_another_modules_private_names():
    _check("private imports", private_import_violations(), PENDING_PRIVATE)


def test_no_module_uses_another_modules_private_attributes():
    violations = private_attribute_violations()
    print(_report("private attribute uses", violations))
    assert violations == [], _report("private attribute uses", violations)


# ---------------------------------------------------------------- the checker checks itself

def _module_at(tmp_path: Path, name: str, text: str) -> Module:
    path = tmp_path / (name.replace(".", "/") + ".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return Module(name, path, False)


def test_imports_are_found_in_function_bodies_and_resolved_from_relative_dots(tmp_path):
    module = _module_at(tmp_path, "crashlens_core.ingest.fake",
                        "from ..store import Workspace\n"
                        "def f():\n"
                        "    from ..signals.refresh import refresh_signals\n"
                        "    import crashlens_core.rca.engine\n"
                        "    from . import driver\n")
    got = [(i.target, i.line) for i in imports_of(module)]
    assert got == [("crashlens_core.store", 1), ("crashlens_core.signals.refresh", 3),
                   ("crashlens_core.rca.engine", 4), ("crashlens_core.ingest.driver", 5)]
    ups = [i.target for i in imports_of(module) if layer_of(i.target) > layer_of(module.name)]
    assert ups == ["crashlens_core.signals.refresh", "crashlens_core.rca.engine"]


def test_layer_of_takes_the_longest_declared_prefix():
    assert layer_of("crashlens_core.store.workspace") == LAYERS["crashlens_core.store"]
    assert layer_of("crashlens_core.kpi") > layer_of("crashlens_core.rca.engine")
    assert layer_of("crashlens_core") == 0
    assert layer_of("crashlens_core.undeclared_module") is None
    assert layer_of("somewhere_else") is None


def test_private_names_are_recognised_but_dunders_are_not():
    assert _private("_require_writable")
    assert _private("_common")
    assert not _private("__version__")
    assert not _private("public")


def test_private_imports_and_attribute_uses_across_modules_are_caught(tmp_path):
    owner = _module_at(tmp_path, "crashlens_core.store.fake",
                       "class W:\n    def _helper(self):\n        return self._state\n    def run(self):\n        return self._helper()\n"
                       "def _shared():\n    pass\n")
    user = _module_at(tmp_path, "crashlens_core.knowledge.fake",
                      "from ..store.fake import _shared, W\n"
                      "from ..cli._common import settings_for\n"
                      "def go(ws):\n    ws._helper()\n    return ws._own\n"
                      "class K:\n    _own = 1\n")
    imports = [text.split(": ", 1)[1] for _, text in private_import_violations([owner, user])]
    assert imports == ["crashlens_core.knowledge.fake imports private _shared from crashlens_core.store.fake",
                       "crashlens_core.knowledge.fake imports from crashlens_core.cli._common, private to crashlens_core.cli"]
    uses = [text.split(": ", 1)[1] for text in private_attribute_violations([owner, user])]
    assert uses == ["crashlens_core.knowledge.fake uses _helper, private to crashlens_core.store.fake"]
    # the owner's own uses and a name the user defines itself are not reported
    assert private_import_violations([owner]) == []
    assert private_attribute_violations([owner]) == []


def test_core_imports_without_streamlit():
    """Every core module imports in a process that never loads Streamlit (the core has no UI)."""
    names = [m.name for m in MODULES if not m.name.endswith("__main__")]
    code = ("import importlib, sys\n"
            f"names = {names!r}\n"
            "for name in names:\n"
            "    importlib.import_module(name)\n"
            "print(len(names), 'streamlit' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [str(len(names)), "False"]
