"""Folders of static files shipped inside installed Python packages (API docs, web map)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def installed_package_dir(module: str, subdir: str, *, dist: str, pip_arg: str) -> Path:
    """`subdir` of the installed package `module`, found without importing the package (its
    import may be slow or pull in what the service does not need)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {dist!r} package is missing: pip install {pip_arg}")
    return Path(next(iter(spec.submodule_search_locations))) / subdir
