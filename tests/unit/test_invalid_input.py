"""engine.errors.invalid: how a file's validation error (a definition, an agreement's data) becomes bad input
that names the field by its dotted place in the file."""
from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from convenant.engine.contacts import Contact
from convenant.engine.errors import BadInput, invalid


class Party(BaseModel):
    id: str
    contacts: list[Contact] = []


class Data(BaseModel):
    parties: list[Party]

    @model_validator(mode="after")
    def _some(self) -> Data:
        if not self.parties:
            raise ValueError("at least one party")
        return self


def error_of(raw: dict) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        Data.model_validate(raw)
    return info.value


def test_the_field_is_named_by_its_place_in_the_file():
    exc = error_of({"parties": [{"id": "a"}, {"id": "b", "contacts": [{"name": "B", "email": "geen adres"}]}]})
    bad = invalid(exc, "agreement.toml")
    assert isinstance(bad, BadInput) and bad.exit_code == 2
    assert bad.field == "parties.1.contacts.0.email"
    assert bad.message.startswith("agreement.toml: field 'parties.1.contacts.0.email': ")
    assert "is not an email address" in bad.message


def test_a_part_validated_on_its_own_is_placed_by_its_prefix():
    exc = error_of({"parties": [{"id": 7}]})
    assert invalid(exc, "agreement data", prefix="themes").field == "themes.parties.0.id"


def test_a_problem_of_the_whole_is_named_by_the_prefix_alone():
    exc = error_of({"parties": []})
    assert invalid(exc, "agreement data").field == ""
    assert invalid(exc, "agreement data", prefix="themes").field == "themes"
    assert "at least one party" in invalid(exc, "agreement data").message
