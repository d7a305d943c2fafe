"""One contact model and one address check (engine/contacts.py) for the agreement's data file, config.toml and
a sign-up's `--set email=`: the same addresses are refused everywhere, and the error names the field."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from convenant.engine.config import settings_from_dict
from convenant.engine.contacts import Contact, email_address
from convenant.engine.errors import BadInput

NOT_ADDRESSES = [
    "not an address",                      # no @
    "vng@example",                         # a domain without a dot
    "Jan <jan@example.org>",               # a display name: the field holds the address alone
    "ipo@example.org\r\nBcc: x@example.org",   # a header in disguise
    "a@b@example.org",
    "secretariaat@convenant.local",        # a special-use domain no mail reaches
    "",
]


def test_a_contact_keeps_its_address_with_the_domain_in_lower_case():
    c = Contact(name="C.A. Jansen", email="C.Jansen@MinIenW.Example.NL", language="en")
    assert c.email == "C.Jansen@minienw.example.nl" and c.language == "en"
    assert Contact(name="IPO", email="ipo@example.org").language == "nl"


@pytest.mark.parametrize("address", NOT_ADDRESSES)
def test_a_contact_with_no_real_address_is_refused_naming_the_email_field(address):
    with pytest.raises(ValidationError) as info:
        Contact(name="X", email=address)
    (error,) = info.value.errors()
    assert error["loc"] == ("email",) and "is not an email address" in error["msg"]


@pytest.mark.parametrize("address", NOT_ADDRESSES)
def test_a_single_address_is_bad_input_naming_its_field(address):
    with pytest.raises(BadInput) as info:
        email_address(address, "email")
    assert info.value.field == "email" and info.value.message.startswith("email: ")
    assert email_address("vth@Provincie-Utrecht.example.org") == "vth@provincie-utrecht.example.org"


def test_a_contact_takes_no_other_keys():
    with pytest.raises(ValidationError) as info:
        Contact(name="X", email="x@example.org", phone="0301234567")
    assert info.value.errors()[0]["loc"] == ("phone",)


def test_config_toml_contacts_are_checked_the_same_way_and_name_the_key():
    settings = settings_from_dict({"contacts": {"secretariat": {"name": "S", "email": "S@Example.org"}}})
    assert settings.contacts["secretariat"].email == "S@example.org"
    with pytest.raises(BadInput) as info:
        settings_from_dict({"contacts": {"secretariat": {"name": "S", "email": "secretariaat"}}})
    assert info.value.field == "contacts.secretariat.email" and "not an email address" in info.value.message
