"""Each package says exactly what it offers: ``__all__`` is its public surface, no more, no less.

The habit of httpx's ``test_exported_members``: a name a package binds without a leading
underscore is public, so it is in ``__all__``; a name in ``__all__`` is really there (a lazily
exported name resolves). Submodules are reached as submodules and are not listed. For plain
modules ``__all__`` may stay shorter than what they import, but every name in it must exist.
"""

from __future__ import annotations

import __future__
import ast
import importlib
import types
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "crashlens_core"
DUNDERS_EXPORTED = {"__version__"}  # the one dunder a package offers on purpose


def _dotted(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


PACKAGES = sorted(_dotted(p) for p in CORE.rglob("__init__.py"))
def _declares_all(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, (ast.Assign, ast.AnnAssign)) and "__all__" in ast.dump(node) for node in tree.body)


MODULES = sorted(_dotted(p) for p in CORE.rglob("*.py")
                 if p.name not in ("__init__.py", "__main__.py") and _declares_all(p))


def _from_elsewhere(value: object, package: str) -> bool:
    """A class or function of another library (``Path``, ``Callable``) bound for the package's own use."""
    home = getattr(value, "__module__", None) if isinstance(value, (type, types.FunctionType)) or \
        type(value).__module__ == "typing" else None
    return home is not None and not home.startswith(("crashlens_core", package))


def public_names(module: types.ModuleType) -> list[str]:
    """What the package offers a reader: names without an underscore (and ``__version__`` at the
    top), except submodules, __future__ flags and other libraries' classes and functions."""
    return sorted(
        name for name, value in vars(module).items()
        if (not name.startswith("_") or (name in DUNDERS_EXPORTED and module.__name__ == "crashlens_core"))
        and not isinstance(value, (types.ModuleType, __future__._Feature)) and not _from_elsewhere(value, module.__name__)
    )


@pytest.mark.parametrize("name", PACKAGES)
def test_package_all_is_exactly_its_public_names(name):
    package = importlib.import_module(name)
    assert hasattr(package, "__all__"), f"{name} has no __all__"
    exported = list(package.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    unexported = sorted(set(public_names(package)) - set(exported))
    assert unexported == [], f"{name} binds public names missing from __all__"
    missing = sorted(n for n in exported if not hasattr(package, n))  # getattr runs a lazy __getattr__
    assert missing == [], f"{name}.__all__ names what the package does not have"


@pytest.mark.parametrize("name", MODULES)
def test_module_all_names_exist(name):
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    assert sorted(n for n in exported if not hasattr(module, n)) == []


def test_public_names_sees_functions_and_classes_but_not_submodules_or_privates():
    module = types.ModuleType("fake")
    exec("from __future__ import annotations\nimport os\nfrom pathlib import Path\nfrom typing import Callable\n"
         "from crashlens_core.errors import InputError\n_hidden = 1\nVISIBLE = 2\ndef f(): pass\n__version__ = '1'\n",
         vars(module))
    assert public_names(module) == ["InputError", "VISIBLE", "f"]
