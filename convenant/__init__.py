"""convenant: a workflow engine for the lifecycle of multi-party agreements between Dutch governments.

Everything installed lives under this one name. The source folders stay at the top of the checkout
(`engine/`, `storage/`, `notifications/`, `workflows/`, `app/`); `pyproject.toml` maps them here with setuptools'
`package-dir`, so `convenant.engine` is `engine/`, `convenant.storage` is `storage/`, and so on.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = PACKAGE_DIR / "config.toml"   # the shipped, commented config.toml (`convenant init` copies it)
