"""[mail] of config.toml: the transport (maildir or SMTP), the sender and the retry policy, beside the engine's
own keys of that table (whether acts are confirmed: engine/config.py MailPolicy)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from convenant.engine.config import MailPolicy


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
    # A temporary refusal (4xx, a refused or dropped connection) is retried with growing back-off until the
    # message is this old, as mail servers do (RFC 5321 4.5.4.1: at least four to five days); only a permanent
    # refusal (5xx) fails at once. Either way the secretariat is told.
    retry_lifetime_days: Annotated[float, Field(gt=0, le=365)] = 5
    # The longest wait between two attempts, so a message is tried regularly until its lifetime ends.
    retry_max_seconds: Annotated[int, Field(ge=1, le=86_400)] = 3600
    # Accepted from older config files and no longer used: the lifetime, not a count of attempts, decides when a
    # message is given up.
    max_attempts: Annotated[int, Field(ge=1, le=100_000)] = 6
    retry_base_seconds: Annotated[int, Field(ge=1, le=86_400)] = 300
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 100
    timeout: Annotated[float, Field(gt=0, le=600)] = 30

    def transport_config(self, base_dir: Path) -> dict[str, Any]:
        """The transport's keys, a relative maildir taken from the config file's folder."""
        out = self.model_dump()
        if out["transport"] == "maildir" and not os.path.isabs(out["path"]):
            out["path"] = str((base_dir / out["path"]).resolve())
        return out
