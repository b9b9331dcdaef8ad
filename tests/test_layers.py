"""Imports run one way through the house.

Every module of ``crashlens_core`` is parsed (not imported) and every import in it is checked:
module level and inside functions, relative and absolute. An import may point to a module of
its own layer or a lower one, never a higher one (DESIGN.md, "The core, by concern").
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
    "crashlens_core.slack": 6,      # posts off the machine: only the faces decide to do that
    "crashlens_core.simulate": 6,   # builds the demo workspace through ingest, signals and knowledge
    "crashlens_core.cli": 7,
    "crashlens_core.__main__": 7,
    # the Streamlit faces sit on top; nothing in the core may import them
    "app": 8,
    "app_pages": 8,
    "pages": 8,
}


# Known violations being fixed on another branch at the same time (the rca helper's, issue 17):
# tolerated here by (importer, imported) so that any NEW violation still fails, and reported as
# soon as one is gone, so the entry is deleted with the fix instead of lingering as a loophole.
PENDING_LAYER = {
    ("crashlens_core.rca.engine", "crashlens_core.kpi"),
    ("crashlens_core.rca.replay", "crashlens_core.bundle"),
}


@dataclass(frozen=True)
class Module:
    name: str      # dotted, e.g. crashlens_core.store.workspace
    path: Path
    is_package: bool

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]

    def where(self, line: int) -> str:
        return f"{self.path.relative_to(ROOT)}:{line}"


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
    return top == "crashlens_core" or top in ("app", "app_pages", "pages")


def layer_violations() -> list[tuple[tuple[str, str], str]]:
    """((importer, imported), "file:line: what") for every import against the layer order."""
    out = []
    for module in MODULES:
        own = layer_of(module.name)
        for imp in imports_of(module):
            if not _is_ours(imp.target):
                continue
            theirs = layer_of(imp.target)
            if theirs is not None and own is not None and theirs > own:
                out.append(((module.name, imp.target), f"{module.where(imp.line)}: {module.name} ({LAYER_NAMES[own]}) "
                                                       f"imports {imp.target} ({LAYER_NAMES[theirs]})"))
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
