"""SEPA texts (`domain.settlement.sepa`): the EPC basic Latin character set, the pain.001
versions and a structured postal address as the EPC asks it from 15 November 2026."""

from __future__ import annotations

import re
from dataclasses import dataclass

from text_unidecode import unidecode

from heitje.errors import InvalidInput

PAIN_VERSIONS = {"09": "pain.001.001.09", "03": "pain.001.001.03"}
"""A setting's short version ("09", "03") -> the ISO 20022 message name."""
DEFAULT_PAIN_VERSION = "09"
# EPC "SEPA basic Latin" character set for names and remittance text.
_NOT_SEPA = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")


def sepa_text(text: str, max_len: int) -> str:
    """`text` transliterated to the EPC basic Latin set and cut to `max_len` characters.

    Accents are dropped ("Één" -> "Een"), "&" becomes "+", any other character outside the set a
    space; runs of spaces collapse.
    """
    ascii_text = unidecode(text).replace("&", "+")
    cleaned = " ".join(_NOT_SEPA.sub(" ", ascii_text).split())
    return cleaned[:max_len].rstrip()


def pain_message(version: str) -> str:
    """The message name of short `version` ("09" -> "pain.001.001.09"); the full name is taken
    too. Raises `InvalidInput` (code `invalid_pain_version`) for any other."""
    text = version.strip()
    if text in PAIN_VERSIONS.values():
        return text
    if text in PAIN_VERSIONS:
        return PAIN_VERSIONS[text]
    raise InvalidInput(
        f"pain.001 version {version!r}: choose one of {', '.join(PAIN_VERSIONS)}",
        code="invalid_pain_version",
    )


@dataclass(frozen=True)
class PostalAddress:
    """A structured postal address as the EPC asks it from November 2026: street name, building
    number, postcode, town (all optional but town) and ISO 3166 country code (two letters)."""

    street: str | None
    building_number: str | None
    postcode: str | None
    town: str
    country: str = "NL"

    def as_sepaxml(self) -> dict[str, str]:
        """The address as sepaxml's `address` dict (StrtNm, BldgNb, PstCd, TwnNm, Ctry), each
        part in the EPC basic Latin set and cut to its XSD length; empty parts left out."""
        parts = {
            "street_name": sepa_text(self.street or "", 70),
            "building_number": sepa_text(self.building_number or "", 16),
            "postcode": sepa_text(self.postcode or "", 16),
            "town": sepa_text(self.town, 35),
            "country": self.country.strip().upper(),
        }
        return {key: value for key, value in parts.items() if value}


def postal_address(
    street: str | None,
    building_number: str | None,
    postcode: str | None,
    town: str | None,
    country: str = "NL",
) -> PostalAddress | None:
    """A `PostalAddress` from loose parts, or None when the town is missing (an address without
    a town is not a structured address) or `country` is not two letters."""
    if not town or not sepa_text(town, 35):
        return None
    code = country.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        return None
    return PostalAddress(street or None, building_number or None, postcode or None, town, code)
