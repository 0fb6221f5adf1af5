"""Recognizers: valid identifiers are found, look-alikes with bad checksums or rules are not."""

from __future__ import annotations

import re

import pytest

from corridor.data.sansio.pii import checksums as ck
from corridor.data.sansio.pii.recognizers import RECOGNIZERS, find_all, first_names


def entities(text: str) -> list[tuple[str, str]]:
    return [(m.entity, m.text) for m in find_all(text)]


@pytest.mark.parametrize(
    ("text", "entity", "found"),
    [
        ("mail ann.lee+tag@mail.example.co.uk now", "EMAIL", "ann.lee+tag@mail.example.co.uk"),
        ("card 4111 1111 1111 1111 ok", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("card 5555-5555-5555-4444", "CREDIT_CARD", "5555-5555-5555-4444"),
        ("amex 378282246310005", "CREDIT_CARD", "378282246310005"),
        ("iban GB82 WEST 1234 5698 7654 32.", "IBAN", "GB82 WEST 1234 5698 7654 32"),
        ("iban DE89370400440532013000", "IBAN", "DE89370400440532013000"),
        ("iban FR1420041010050500013M02606", "IBAN", "FR1420041010050500013M02606"),
        ("iban NO9386011117947", "IBAN", "NO9386011117947"),
        ("from 192.168.1.20 today", "IP_ADDRESS", "192.168.1.20"),
        ("from 2001:db8::8a2e:370:7334 today", "IP_ADDRESS", "2001:db8::8a2e:370:7334"),
        ("from ::ffff:10.0.0.1", "IP_ADDRESS", "::ffff:10.0.0.1"),
        ("ssn 536-22-5468", "US_SSN", "536-22-5468"),
        ("nino AB 12 34 56 C", "UK_NINO", "AB 12 34 56 C"),
        ("nino JG103759A", "UK_NINO", "JG103759A"),
        ("call +44 20 7946 0958", "PHONE", "+44 20 7946 0958"),
        ("call +14155552671", "PHONE", "+14155552671"),
        ("call (212) 555-0134", "PHONE", "(212) 555-0134"),
        ("call 212.555.0134", "PHONE", "212.555.0134"),
        ("call 020 7946 0958", "PHONE", "020 7946 0958"),
        ("call 01 42 68 53 00", "PHONE", "01 42 68 53 00"),
        ("ask Dr. Maria Lopez", "PERSON", "Dr. Maria Lopez"),
        ("met James Smith there", "PERSON", "James Smith"),
        ("José García said", "PERSON", "José García"),
    ],
)
def test_valid_identifier_is_found(text: str, entity: str, found: str) -> None:
    assert (entity, found) in entities(text)


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("mail ann..lee@example.com", "EMAIL"),
        ("mail ann@-example.com", "EMAIL"),
        ("card 4111 1111 1111 1112", "CREDIT_CARD"),  # Luhn fails
        ("card 0000 0000 0000 0000", "CREDIT_CARD"),  # passes Luhn, but no card is all zeros
        ("iban GB82 WEST 1234 5698 7654 33", "IBAN"),  # mod-97 fails
        ("iban GB82 WEST 1234 5698 7654", "IBAN"),  # too short for GB
        ("iban XX82 WEST 1234 5698 7654 32", "IBAN"),  # no such country
        ("ip 256.1.1.1", "IP_ADDRESS"),
        ("ip 01.2.3.4", "IP_ADDRESS"),
        ("at 12:30:45", "IP_ADDRESS"),
        ("mac 00:1A:2B:3C:4D:5E", "IP_ADDRESS"),
        ("ssn 000-12-3456", "US_SSN"),  # area 000
        ("ssn 666-12-3456", "US_SSN"),  # area 666
        ("ssn 912-12-3456", "US_SSN"),  # area 9xx
        ("ssn 536-00-5468", "US_SSN"),  # group 00
        ("ssn 536-22-0000", "US_SSN"),  # serial 0000
        ("ssn 078-05-1120", "US_SSN"),  # the wallet-card example
        ("ssn 536-22 5468", "US_SSN"),  # mixed separators
        ("nino QQ123456C", "UK_NINO"),  # Q may not come first
        ("nino AO123456C", "UK_NINO"),  # O may not come second
        ("nino GB123456A", "UK_NINO"),  # banned prefix
        ("nino AB123456E", "UK_NINO"),  # suffix must be A-D
        ("on 2024-01-15", "PHONE"),
        ("call +0 123 456", "PHONE"),
        ("order 12345678", "PHONE"),
        ("the may meeting", "PERSON"),
        ("ANNA SHOUTS", "PERSON"),
        ("Grocery Store", "PERSON"),
    ],
)
def test_look_alike_is_rejected(text: str, entity: str) -> None:
    assert entity not in [e for e, _ in entities(text)]


def test_scores_reflect_confidence() -> None:
    by_text = {
        m.text: m.score for m in find_all("536-22-5468 and 536225468 and Anna and Dr. Anna Berg")
    }
    assert by_text["536-22-5468"] > by_text["536225468"]
    assert by_text["Dr. Anna Berg"] > by_text["Anna"]
    assert all(0.0 < s <= 1.0 for s in by_text.values())


def test_overlapping_matches_keep_the_stronger() -> None:
    # A Luhn-valid 16-digit number also looks like a long digit run; the card wins.
    assert entities("4111111111111111") == [("CREDIT_CARD", "4111111111111111")]


def test_prefilters_run_in_python_and_find_every_valid_example() -> None:
    examples = {
        "EMAIL": "a@b.io",
        "CREDIT_CARD": "4111111111111111",
        "IBAN": "DE89370400440532013000",
        "IP_ADDRESS": "10.0.0.1",
        "US_SSN": "536-22-5468",
        "UK_NINO": "AB123456C",
        "PHONE": "+14155552671",
        "PERSON": "Anna",
    }
    for recognizer in RECOGNIZERS:
        pattern = recognizer.prefilter.replace(r"\p{Lu}", "[A-Z]").replace(r"\p{Ll}", "[a-z]")
        assert re.search(pattern, examples[recognizer.entity]), recognizer.entity


def test_checksum_helpers() -> None:
    assert ck.luhn_valid("79927398713")
    assert not ck.luhn_valid("79927398710")
    assert ck.card_network("4111111111111111") == "visa"
    assert ck.card_network("2221000000000009") == "mastercard"
    assert ck.card_network("9999999999999995") is None
    assert ck.iban_valid("gb82west12345698765432")  # case and spacing do not matter
    assert ck.ssn_valid("536225468")
    assert ck.nino_valid("ab 12 34 56 c")


def test_bundled_names_list_loads() -> None:
    names = first_names()
    assert {"anna", "james", "maria", "mohammed"} <= names
    assert "may" not in names
