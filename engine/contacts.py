"""Who receives mail for a party, a theme, a governing body or the installation (`[contacts]` of config.toml): one
model for every contact the engine is given, and one check of an address, so that an agreement's data file,
config.toml and a sign-up's `--set email=` refuse the same addresses with a message that names the field."""
from __future__ import annotations

from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict

from convenant.engine.errors import BadInput


def _normal(value: str) -> str:
    """The address in its normal form (the domain in lower case); a ValueError says what is wrong with it. A bare
    address only: no display name, nothing a header could be split at. The domain is not looked up (no DNS)."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not an email address ({exc})") from None


# A model field holding one address; pydantic's error names the field's place (parties.0.contacts.1.email).
EmailAddress = Annotated[str, AfterValidator(_normal)]


def email_address(value: str, field: str = "email") -> str:
    """One address outside a model (a `--set email=` value), checked as a contact's is; bad input names `field`."""
    try:
        return _normal(value)
    except ValueError as exc:
        raise BadInput(f"{field}: {exc}", field=field) from None


class Contact(BaseModel):
    """A person or mailbox that receives notifications, in the language they read."""
    model_config = ConfigDict(extra="forbid")
    name: str
    email: EmailAddress
    language: Literal["nl", "en"] = "nl"
