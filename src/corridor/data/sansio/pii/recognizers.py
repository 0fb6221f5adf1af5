"""Detectors for personal data in text: each finds candidates with a regex, then validates them.

A ``Recognizer`` has two patterns: ``prefilter``, a cheap and loose regex in the syntax shared by
Python and Rust (so ``scan`` can run it vectorised in Polars over whole columns), and a Python
``finder`` that runs only on the values the prefilter kept, applying checksums and issuing rules
and returning ``Match``es with a confidence score in 0..1.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from corridor.data.sansio.pii import checksums as ck


@dataclass(frozen=True)
class Match:
    entity: str
    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class Recognizer:
    entity: str
    prefilter: str
    finder: Callable[[str], list[Match]]
    column_hints: tuple[str, ...] = ()

    def find(self, text: str) -> list[Match]:
        return self.finder(text)


Scorer = Callable[[str], float | None]  # the score of a candidate, or None to reject it


def _regex_finder(
    entity: str, pattern: str, scorer: Scorer, flags: int = 0
) -> Callable[[str], list[Match]]:
    compiled = re.compile(pattern, flags)

    def find(text: str) -> list[Match]:
        found = []
        for m in compiled.finditer(text):
            before = text[m.start() - 1] if m.start() else " "
            after = text[m.end()] if m.end() < len(text) else " "
            if before.isalnum() or after.isalnum():
                continue  # part of a longer token
            score = scorer(m.group())
            if score is not None:
                found.append(Match(entity, m.start(), m.end(), m.group(), score))
        return found

    return find


def _email(text: str) -> float | None:
    local, _, domain = text.rpartition("@")
    if (
        len(local) > 64
        or len(text) > 254
        or ".." in text
        or local.startswith(".")
        or local.endswith(".")
    ):
        return None
    if any(not label or label[0] == "-" or label[-1] == "-" for label in domain.split(".")):
        return None
    return 0.9


def _card(text: str) -> float | None:
    number = ck.digits_of(text)
    if not 13 <= len(number) <= 19 or len(set(number)) == 1 or not ck.luhn_valid(number):
        return None
    return 0.95 if ck.card_network(number) else 0.6


_IBAN_START = re.compile(r"[A-Z]{2}\d{2}")


def _ibans(text: str) -> list[Match]:
    """From each country code, read exactly that country's IBAN length (single spaces allowed)."""
    found = []
    for m in _IBAN_START.finditer(text):
        length = ck.IBAN_LENGTHS.get(m.group()[:2])
        if length is None or (m.start() and text[m.start() - 1].isalnum()):
            continue
        end, taken = m.start(), 0
        while end < len(text) and taken < length:
            if text[end].isalnum() and text[end].isascii():
                taken += 1
            elif not (text[end] == " " and end + 1 < len(text) and text[end + 1] != " "):
                break
            end += 1
        candidate = text[m.start() : end]
        if (
            taken == length
            and (end == len(text) or not text[end].isalnum())
            and ck.iban_valid(candidate)
        ):
            found.append(Match("IBAN", m.start(), end, candidate, 0.95))
    return found


def _ipv4(text: str) -> float | None:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return None
    return 0.6


def _ipv6(text: str) -> float | None:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return None
    return 0.75 if text.count(":") >= 3 else 0.5


_find_ipv4 = _regex_finder("IP_ADDRESS", r"(?:\d{1,3}\.){3}\d{1,3}", _ipv4)
_find_ipv6 = _regex_finder(
    "IP_ADDRESS",
    # The form ending in a dotted IPv4 part comes first, or its digits would be read as hex.
    r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){1,6}:\d{1,3}(?:\.\d{1,3}){3}"
    r"|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}",
    _ipv6,
)


def _ip_addresses(text: str) -> list[Match]:
    return _find_ipv4(text) + _find_ipv6(text)


def _ssn(text: str) -> float | None:
    separators = {c for c in text if not c.isdigit()}
    if len(separators) > 1 or not ck.ssn_valid(ck.digits_of(text)):
        return None
    return {"-": 0.85, " ": 0.6}.get(next(iter(separators), ""), 0.3)


def _nino(text: str) -> float | None:
    return 0.85 if ck.nino_valid(text) else None


def _phone(text: str) -> float | None:
    digits = ck.digits_of(text)
    formatted = any(c in text for c in " -.()")
    if text.startswith("+"):
        return 0.75 if 8 <= len(digits) <= 15 and digits[0] != "0" else None
    if text.startswith("00"):
        return 0.6 if 10 <= len(digits) <= 17 else None
    nanp = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
    if len(nanp) == 10 and nanp[0] in "23456789" and nanp[3] in "23456789" and digits[0] != "0":
        return 0.6 if formatted else 0.3
    if digits[0] == "0" and digits[1] != "0" and 10 <= len(digits) <= 11:
        return 0.5 if formatted else 0.3
    return None


_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame"})
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*\.?")


@cache
def first_names() -> frozenset[str]:
    """The bundled list of common given names, lower-cased."""
    text = (
        resources.files("corridor.data.sansio.pii").joinpath("first_names.txt").read_text("utf-8")
    )
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _folded(word: str) -> str:
    """Lower case without accents, so that "José" finds "jose" in the list."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _capitalised(word: str) -> bool:
    word = word.rstrip(".")
    return (
        len(word) > 1 and word[0].isupper() and word[1:].replace("-", "").replace("'", "").islower()
    )


def _names(text: str) -> list[Match]:
    """A known given name, capitalised, optionally after a title and before capitalised words."""
    words = list(_WORD.finditer(text))
    found: list[Match] = []
    i = 0
    while i < len(words):
        start, score, j = i, 0.0, i
        if words[j].group().rstrip(".").lower() in _TITLES and j + 1 < len(words):
            j += 1
            score = 0.15
        word = words[j].group()
        if not (_capitalised(word) and _folded(word) in first_names()):
            i += 1
            continue
        end = j
        while end + 1 < len(words) and end - j < 2 and _capitalised(words[end + 1].group()):
            end += 1
        score += 0.4 if end == j else 0.7
        found.append(
            Match(
                "PERSON",
                words[start].start(),
                words[end].end(),
                text[words[start].start() : words[end].end()],
                min(score, 0.9),
            )
        )
        i = end + 1
    return found


RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer(
        "EMAIL",
        r"@",
        _regex_finder(
            "EMAIL", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", _email
        ),
        ("email", "e_mail", "mail"),
    ),
    Recognizer(
        "CREDIT_CARD",
        r"\d(?:[ -]?\d){12,18}",
        _regex_finder("CREDIT_CARD", r"\d(?:[ -]?\d){12,18}", _card),
        ("card", "credit", "pan", "cc_"),
    ),
    Recognizer(
        "IBAN",
        r"[A-Z]{2}\d{2}",
        _ibans,
        ("iban", "account", "bank"),
    ),
    Recognizer(
        "IP_ADDRESS",
        r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]*:[0-9A-Fa-f]*:",
        _ip_addresses,
        ("ip", "ip_address", "host", "client_addr", "remote_addr"),
    ),
    Recognizer(
        "US_SSN",
        r"\d{3}[- ]?\d{2}[- ]?\d{4}",
        _regex_finder("US_SSN", r"\d{3}[- ]?\d{2}[- ]?\d{4}", _ssn),
        ("ssn", "social_security", "social"),
    ),
    Recognizer(
        "UK_NINO",
        r"(?i)[a-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[a-d]",
        _regex_finder("UK_NINO", r"[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d]", _nino),
        ("nino", "ni_number", "national_insurance", "insurance_number"),
    ),
    Recognizer(
        "PHONE",
        r"\d[\d ().-]{5,}\d",
        _regex_finder("PHONE", r"(?:\+|\()?\d[\d ().-]{5,20}\d", _phone),
        ("phone", "tel", "mobile", "cell", "fax", "contact_number"),
    ),
    Recognizer(
        "PERSON",
        r"\p{Lu}\p{Ll}",
        _names,
        (
            "name",
            "first",
            "last",
            "surname",
            "forename",
            "customer",
            "contact",
            "author",
            "employee",
            "patient",
        ),
    ),
)
"""The built-in recognizers, in the order their matches are preferred when they overlap."""

_RANK = {r.entity: i for i, r in enumerate(RECOGNIZERS)}


def find_all(text: str, recognizers: tuple[Recognizer, ...] = RECOGNIZERS) -> list[Match]:
    """Every match in ``text``; where two overlap, the higher score (then the earlier kind) wins."""
    candidates = [m for r in recognizers for m in r.find(text)]
    candidates.sort(key=lambda m: (-m.score, _RANK.get(m.entity, 99), m.start))
    kept: list[Match] = []
    for match in candidates:
        if all(match.end <= k.start or match.start >= k.end for k in kept):
            kept.append(match)
    return sorted(kept, key=lambda m: m.start)
