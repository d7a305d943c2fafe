"""[mail] of config.toml: the transport (maildir or SMTP), the sender and the retry policy, beside the engine's
own keys of that table (whether acts are confirmed: engine/config.py MailPolicy)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from convenant.engine.config import MailPolicy
from pydantic import Field


class Mail(MailPolicy):
    # Keys of the other transport are known keys and ignored, as INTERFACE.md promises; unknown keys are refused.
    transport: Literal["maildir", "smtp"] = "maildir"
    path: str = "var/mail"
    host: str = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    tls: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password_env: str | None = None
    sender: str = "secretariaat@example.org"
    max_attempts: Annotated[int, Field(ge=1)] = 6
    retry_base_seconds: Annotated[int, Field(ge=1)] = 300
    batch_size: Annotated[int, Field(ge=1)] = 100

    def transport_config(self, base_dir: Path) -> dict[str, Any]:
        """The transport's keys, a relative maildir taken from the config file's folder."""
        out = self.model_dump()
        if out["transport"] == "maildir" and not os.path.isabs(out["path"]):
            out["path"] = str((base_dir / out["path"]).resolve())
        return out
