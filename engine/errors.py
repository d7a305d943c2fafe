"""One root error; each subclass maps to one exit code of INTERFACE.md (and one HTTP status)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class ConvenantError(Exception):
    exit_code = 1
    http_status = 500
    kind = "error"

    def __init__(self, message: str, *, field: str | None = None, article: str | None = None,
                 process: str | None = None, state: str | None = None, trigger: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.article = article
        self.process = process
        self.state = state
        self.trigger = trigger

    def as_dict(self) -> dict:
        out = {"error": self.kind, "message": self.message}
        for key in ("field", "article", "process", "state", "trigger"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def __str__(self) -> str:
        text = self.message
        if self.article and self.article not in text:
            text += f" ({self.article})"
        return text


class BadInput(ConvenantError):
    """Unparseable or impossible values, names outside the vocabulary, invalid definitions or config."""
    exit_code = 2
    http_status = 400
    kind = "bad_input"


def invalid(exc: ValidationError, source: str, *, prefix: str = "") -> BadInput:
    """The first problem pydantic found in a file, as bad input that names the field by its dotted place in it
    (`parties.0.contacts.1.email`); `prefix` is the place of a part that was validated on its own."""
    first = exc.errors()[0]
    field = ".".join(part for part in (prefix, *map(str, first["loc"])) if part)
    return BadInput(f"{source}: field {field!r}: {first['msg']}", field=field)


class NotAllowed(ConvenantError):
    """Wrong state, failed guard, or a role/party that may not do this; carries the article."""
    exit_code = 3
    http_status = 403
    kind = "not_allowed"

    def __init__(self, message: str, *, forbidden: bool = False, **kw) -> None:
        super().__init__(message, **kw)
        # 403 when the role or party may not act at all; 409 when the state or a guard refuses.
        self.http_status = 403 if forbidden else 409


class NotFound(ConvenantError, LookupError):
    exit_code = 4
    http_status = 404
    kind = "not_found"


class Conflict(ConvenantError):
    """Someone changed the process meanwhile (optimistic version check failed)."""
    exit_code = 5
    http_status = 409
    kind = "conflict"
