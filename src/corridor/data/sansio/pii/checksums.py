"""Checksums and issuing rules that separate real identifiers from look-alike digit strings."""

from __future__ import annotations

IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
"""IBAN length per country (ISO 13616 registry)."""

# Numbers published as examples (on cards, in adverts) and never validly issued.
_SSN_EXAMPLES = frozenset({"078051120", "219099999", "123456789"})
_NINO_FIRST_BANNED = frozenset("DFIQUV")
_NINO_SECOND_BANNED = frozenset("DFIOQUV")
_NINO_PREFIX_BANNED = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def digits_of(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def luhn_valid(number: str) -> bool:
    """Whether a digit string passes the Luhn (mod 10) check."""
    if not number.isdigit() or len(number) < 2:
        return False
    total = 0
    for i, char in enumerate(reversed(number)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_network(number: str) -> str | None:
    """The card network an issuer prefix and length belong to, if any."""
    n, head2, head4 = len(number), int(number[:2]), int(number[:4])
    if number[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= head2 <= 55 or 2221 <= head4 <= 2720) and n == 16:
        return "mastercard"
    if head2 in (34, 37) and n == 15:
        return "amex"
    if (head4 == 6011 or head2 == 65 or 644 <= int(number[:3]) <= 649) and 16 <= n <= 19:
        return "discover"
    if 3528 <= head4 <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (head2 in (36, 38, 39) or 300 <= int(number[:3]) <= 305) and 14 <= n <= 19:
        return "diners"
    if head2 == 62 and 16 <= n <= 19:
        return "unionpay"
    return None


def iban_valid(text: str) -> bool:
    """Country length and ISO 7064 mod-97 check of an IBAN (spaces allowed)."""
    iban = text.replace(" ", "").upper()
    if len(iban) < 5 or not iban.isalnum() or not iban.isascii():
        return False
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def ssn_valid(number: str) -> bool:
    """US SSN issuing rules: no area 000, 666 or 900-999, no group 00, no serial 0000."""
    if len(number) != 9 or not number.isdigit():
        return False
    area, group, serial = number[:3], number[3:5], number[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return len(set(number)) > 1 and number not in _SSN_EXAMPLES


def nino_valid(text: str) -> bool:
    """UK National Insurance number rules: prefix letters, six digits, suffix A-D."""
    nino = text.replace(" ", "").upper()
    if len(nino) != 9 or not nino[:2].isalpha() or not nino[2:8].isdigit():
        return False
    if nino[8] not in "ABCD" or not nino.isascii():
        return False
    first, second = nino[0], nino[1]
    if first in _NINO_FIRST_BANNED or second in _NINO_SECOND_BANNED:
        return False
    return nino[:2] not in _NINO_PREFIX_BANNED
