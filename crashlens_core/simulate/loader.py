"""Importing versions of the sample shop from its git repository, and cleaning up.

Each deployed version is imported as a package with a name unique to this
process, so two versions (a canary and the fleet) run side by side and nothing
collides with an unrelated ``shop`` module. HEAD runs from the working tree;
older tags are exported with ``git archive`` into a temporary directory.
:class:`ShopLoader.scrub` rewrites what the real tracebacks say - temporary
paths and private package names - into the deployed view: ``/app/shop/…`` and
``shop.…``.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import itertools
import linecache
import logging
import re
import shutil
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from . import repo as repo_mod

__all__ = ["LoadedVersion", "ShopLoader", "DEPLOY_PREFIX"]

DEPLOY_PREFIX = "/app/"
_counter = itertools.count(1)


@dataclass(frozen=True)
class LoadedVersion:
    version: str
    commit: str
    root: str  # directory that contains the shop/ package, with a trailing slash
    package: str  # the private import name of the shop package
    app: ModuleType
    telemetry: ModuleType

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(self.package)


class ShopLoader:
    """Loads shop versions for one simulation run; use as a context manager."""

    def __init__(self, repo_dir: Path) -> None:
        self._repo = repo_dir.resolve()
        self._tmp: Path | None = None
        self.versions: dict[str, LoadedVersion] = {}
        self._pattern: re.Pattern[str] | None = None
        self._replacements: dict[str, str] = {}
        self.roots: tuple[str, ...] = ()

    def __enter__(self) -> "ShopLoader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self, version: str) -> LoadedVersion:
        """Import the tree tagged v<version> (HEAD's tree from the working copy)."""
        if version in self.versions:
            return self.versions[version]
        commit = repo_mod.resolve(self._repo, f"v{version}")
        if commit == repo_mod.resolve(self._repo, "HEAD"):
            root = self._repo
        else:
            if self._tmp is None:
                self._tmp = Path(tempfile.mkdtemp(prefix="crashlens-shop-"))
            root = self._tmp / version
            _export(self._repo, commit, root)
        package = f"_crashlens_shop_{next(_counter)}_{version.replace('.', '_')}"
        init = root / "shop" / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            package, init, submodule_search_locations=[str(init.parent)])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[package] = module
        # No __pycache__ in the working tree: it stays clean for git and for indexing.
        # shop.app imports every module, so all imports happen inside this block.
        writes_bytecode = sys.dont_write_bytecode
        sys.dont_write_bytecode = True
        try:
            spec.loader.exec_module(module)
            app = importlib.import_module(f"{package}.app")
        finally:
            sys.dont_write_bytecode = writes_bytecode
        loaded = LoadedVersion(
            version=version,
            commit=commit,
            root=str(root) + "/",
            package=package,
            app=app,
            telemetry=sys.modules[f"{package}.telemetry"],
        )
        declared = getattr(module, "__version__", None)
        if declared != version:
            raise RuntimeError(f"tag v{version} declares version {declared!r}")
        self.versions[version] = loaded
        self._replacements[loaded.root] = DEPLOY_PREFIX
        self._replacements[package] = "shop"
        self._pattern = re.compile("|".join(re.escape(key) for key in
                                            sorted(self._replacements, key=len, reverse=True)))
        self.roots = tuple(v.root for v in self.versions.values())
        return loaded

    def scrub(self, text: str) -> str:
        """Rewrite private paths and package names to the deployed ones."""
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._replacements[m.group(0)], text)

    def close(self) -> None:
        """Forget every imported module, logger and cached source line of this run."""
        packages = [v.package for v in self.versions.values()]
        for name in list(sys.modules):
            if any(name == p or name.startswith(p + ".") for p in packages):
                del sys.modules[name]
        manager = logging.Logger.manager
        for name in list(manager.loggerDict):
            if any(name == p or name.startswith(p + ".") for p in packages):
                logger = manager.loggerDict.pop(name)
                if isinstance(logger, logging.Logger):
                    for handler in list(logger.handlers):
                        logger.removeHandler(handler)
        for filename in list(linecache.cache):
            if filename.startswith(self.roots):
                linecache.cache.pop(filename, None)
        self.versions.clear()
        self.roots = ()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def _export(repo_dir: Path, commit: str, target: Path) -> None:
    data = repo_mod.git(repo_dir, "archive", "--format=tar", commit, binary=True)
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(target, filter="data")
