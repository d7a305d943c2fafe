"""The whole of config.toml, validated on load with errors that name the key: the engine's settings
(engine/config.py) joined by the installation's own, each defined where it is used - [database] by storage/,
[mail] by notifications/, [web] here."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from convenant.engine.config import Settings, Strict, load_settings, settings_from_dict
from convenant.notifications.settings import Mail
from convenant.storage.settings import Database
from pydantic import Field


class Web(Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    secure_cookies: bool = False


class Config(Settings):
    database: Database = Field(default_factory=Database)
    mail: Mail = Field(default_factory=Mail)
    web: Web = Field(default_factory=Web)


def load_config(path: str | os.PathLike | None) -> Config:
    return load_settings(path, model=Config)


def config_from_dict(raw: dict, *, base_dir: Path = Path("."), source: str = "config.toml") -> Config:
    return settings_from_dict(raw, base_dir=base_dir, source=source, model=Config)
