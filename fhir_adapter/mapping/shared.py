"""Shared identities: one Organization, Location or Practitioner per real party, across trials.

The registry repeats the same sponsor, site and investigator in every trial (and a site contact
at every site of one trial). These resources get business identifiers built from the party's
*normalised* name, not from the trial, under the same system as every other identifier
(:data:`~fhir_adapter.mapping.canonical.IDENTIFIER_SYSTEM`)::

    org:<name>[:<country>]                       Organization (sponsor, collaborator)
    site:<facility>:<city>:<country>[:<postal>]  Location (a registry site with a facility name)
    person:<name>:<affiliation>                  Practitioner with an affiliation
    person:<name>:trial-<NCT id>                 Practitioner without one (site contacts): the same
                                                 name within one trial is one person; across trials
                                                 nothing says it is, so it is not merged

Each part is :func:`slug` of :func:`normalise_name`; a value longer than 64 characters keeps a
readable prefix and ends with 12 hex digits of its SHA-256. Normalising is conservative: it never
drops a word that can tell two parties apart (see ``mappings/party_names.yaml``).

Contacts whose name is an office or a role ("Site Public Contact", "Pfizer CT.gov Call Center")
are not people: :func:`is_office` tells them, and they become telecom on a PractitionerRole.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache

from fhir_adapter.mapping.tables import section

ORG_PREFIX = "org"
SITE_PREFIX = "site"
PERSON_PREFIX = "person"
_MAX_VALUE = 64
_DROPPED = re.compile(r"['’`.]")  # joined: "M.D." -> "md", "O'Brien" -> "obrien"
_SEPARATORS = re.compile(r"[^0-9a-z]+")


def _fold(text: str) -> str:
    """Accents off (NFKD, combining marks dropped), case folded, ``&`` -> ``and``, punctuation to spaces."""
    if text.isascii():  # NFKD leaves ASCII as it is and has no combining marks: skip the per-character pass
        plain = text.casefold()
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    plain = _DROPPED.sub("", plain.replace("&", " and ").replace("ß", "ss"))
    return " ".join(_SEPARATORS.sub(" ", plain).split())


@cache  # a handful of (table key, field) pairs, asked for alternately
def _words(table_key: str, field: str) -> frozenset[str]:
    return frozenset(str(w) for w in section("party_names", table_key)[field])


@lru_cache(maxsize=8192)  # the same sponsor, site and contact names come back in every trial
def normalise_name(text: str | None, kind: str = "organization") -> str:
    """The comparable form of a registry name; ``""`` when nothing is left.

    Every kind: Unicode accents removed, case folded, ``&`` read as "and", apostrophes and periods
    dropped ("M.D." = "MD"), any other punctuation a space, whitespace collapsed.

    ``organization`` / ``site``: a trailing legal-form word (Inc, Ltd, LLC, GmbH, Corp, ...) dropped.
    ``person``: a comma tail made only of degrees and titles dropped ("Jane Doe, MD, PhD"), and
    leading/trailing titles ("Prof. Jane Doe", "Jane Doe professor"). Word order is kept
    ("Doe, Jane" is not "Jane Doe").
    """
    if not text:
        return ""
    if kind == "person":
        head, *tails = text.split(",")
        titles = _words("person_titles", "words")
        while tails and set(_fold(tails[-1]).split()) <= titles:
            tails.pop()
        words = _fold(",".join([head, *tails])).split()
        while len(words) > 1 and words[0] in _words("person_titles", "leading"):
            words.pop(0)
        while len(words) > 1 and words[-1] in _words("person_titles", "trailing"):
            words.pop()
        return " ".join(words)
    words = _fold(text).split()
    suffixes = _words("legal_form_suffixes", "words")
    while len(words) > 1 and words[-1] in suffixes:
        words.pop()
    return " ".join(words)


def slug(text: str) -> str:
    return text.replace(" ", "-")


def shared_value(prefix: str, parts: Iterable[str | None]) -> str:
    """``prefix:part:part...`` (empty trailing parts dropped); hashed past 64 characters."""
    cleaned = [p or "" for p in parts]
    while cleaned and not cleaned[-1]:
        cleaned.pop()
    value = ":".join([prefix, *cleaned])
    if len(value) <= _MAX_VALUE:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:12]
    return f"{value[: _MAX_VALUE - len(digest) - 1].rstrip(':-')}-{digest}"


def is_shared_value(value: str) -> bool:
    """Whether a business identifier value is a shared key (``org:``, ``site:``, ``person:``)."""
    return value.split(":", 1)[0] in (ORG_PREFIX, SITE_PREFIX, PERSON_PREFIX) and ":" in value


def org_key(name: str, country: str | None = None) -> str | None:
    norm = normalise_name(name)
    if not norm:
        return None
    return shared_value(ORG_PREFIX, [slug(norm), slug(_fold(country or ""))])


@lru_cache(maxsize=8192)
def site_key(facility: str | None, city: str | None, country: str | None, postal: str | None) -> str | None:
    """None for a site without a facility name: a city alone does not identify a site (cached: every site is
    keyed several times per trial)."""
    norm = normalise_name(facility, "site")
    if not norm:
        return None
    parts = [slug(norm), slug(_fold(city or "")), slug(_fold(country or "")), slug(_fold(postal or ""))]
    return shared_value(SITE_PREFIX, parts)


def person_key(name: str | None, affiliation: str | None, trial_key: str) -> str | None:
    """None for a nameless contact; see the module docstring for the trial-scoped case."""
    norm = normalise_name(name, "person")
    if not norm or is_office(name):
        return None
    place = slug(normalise_name(affiliation)) if affiliation and normalise_name(affiliation) else f"trial-{trial_key}"
    return shared_value(PERSON_PREFIX, [slug(norm), place])


@lru_cache(maxsize=8192)
def is_office(name: str | None) -> bool:
    """Whether a contact's name is an office or a role ("Site Public Contact"), per ``party_names.yaml``."""
    if not name:
        return False
    folded = _fold(name)
    if not normalise_name(name, "person"):
        return True
    exact, contains = _offices()
    if folded in exact:
        return True
    padded = f" {folded} "
    return any(phrase in padded for phrase in contains)


@lru_cache(maxsize=1)
def _offices() -> tuple[frozenset[str], tuple[str, ...]]:
    """``party_names.yaml`` contact offices: exact names, and phrases padded with spaces (whole words)."""
    offices = section("party_names", "contact_offices")
    return frozenset(str(p) for p in offices["exact"]), tuple(f" {phrase} " for phrase in offices["contains"])
