"""[database] of config.toml: where the store lives. SQLite (the embedded default) or PostgreSQL."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from convenant.engine.config import Strict

SQLITE = "sqlite:///"


class Database(Strict):
    url: str = "sqlite:///var/convenant.db"
    echo: bool = False
    # SQLite only: "full" syncs the write-ahead log at every commit, so a command that answered "done" survives a
    # power failure; "normal" syncs only at checkpoints (faster, but the last commits may be lost).
    sqlite_synchronous: Literal["full", "normal"] = "full"

    def resolved_url(self, base_dir: Path) -> str:
        """Relative SQLite paths are taken from the config file's folder, which is created if missing."""
        url = self.url
        if url.startswith(SQLITE) and not url.startswith(SQLITE + "/") and ":memory:" not in url:
            path = (base_dir / url[len(SQLITE):]).resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            return SQLITE + str(path)
        if url.startswith(SQLITE + "/"):
            Path(url[len(SQLITE):]).parent.mkdir(parents=True, exist_ok=True)
        return url
