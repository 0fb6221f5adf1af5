from __future__ import annotations

import pytest

from corridor.data.sansio.csv_dialect import detect_encoding, guess_header, sniff
from corridor.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n4,5,6\n", ","),
        ("a;b;c\n1,5;2;3\n4;5;6\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        ('name,notes\n"Smith; John","a; b; c"\n"Doe; Jane","d; e"\n', ","),
    ],
)
def test_sniff_finds_the_delimiter(text: str, delimiter: str) -> None:
    dialect = sniff(text.encode(), complete=True)
    assert dialect.delimiter == delimiter
    assert "delimiter" in dialect.inferred


def test_sniff_reports_what_it_inferred_and_keeps_what_was_given() -> None:
    dialect = sniff(b"a;b\n1;2\n", complete=True, delimiter=";", has_header=False)
    assert dialect.delimiter == ";"
    assert dialect.has_header is False
    assert dialect.inferred == ["encoding", "quote_char"]


@pytest.mark.parametrize(
    ("sample", "complete", "encoding"),
    [
        ("café,1\n".encode(), True, "utf-8"),
        ("café".encode()[:-1], False, "utf-8"),  # cut inside the last character
        (b"\xef\xbb\xbfa,b\n", True, "utf-8-sig"),
        ("a,b\n".encode("utf-16"), True, "utf-16"),
        ("a,b\n1,2\n".encode("utf-16-le"), True, "utf-16-le"),
        ("caf\xe9 \u20ac\n".encode("cp1252"), True, "cp1252"),
        (b"caf\xe9\x81\n", True, "latin-1"),  # 0x81 is not a cp1252 character
    ],
)
def test_detect_encoding(sample: bytes, complete: bool, encoding: str) -> None:
    assert detect_encoding(sample, complete=complete) == encoding


def test_a_non_utf8_file_needs_transcoding() -> None:
    assert sniff("a;b\n1;é\n".encode("cp1252"), complete=True).needs_transcoding
    assert not sniff(b"\xef\xbb\xbfa;b\n1;2\n", complete=True).needs_transcoding


def test_single_quotes_are_detected_only_when_used_for_quoting() -> None:
    assert sniff(b"a,b\n'x, y',1\n'z',2\n", complete=True).quote_char == "'"
    assert sniff(b"a,b\nit's,1\n", complete=True).quote_char == '"'


@pytest.mark.parametrize(
    ("rows", "header"),
    [
        ([["id", "amount"], ["1", "2.5"], ["2", "3"]], True),
        ([["1", "2.5"], ["2", "3"], ["3", "4"]], False),
        ([["name", "city"], ["ann", "paris"], ["bob", "rome"]], True),
        ([["ann", "paris"], ["bob", "paris"], ["cy", "rome"]], False),
        ([["day", "n"], ["2024-01-01", "1"], ["2024-01-02", ""]], True),
        ([["only", "header"]], True),
        ([["1", "2"]], False),
    ],
)
def test_guess_header(rows: list[list[str]], header: bool) -> None:
    assert guess_header(rows) is header


def test_unknown_encodings_and_long_delimiters_are_refused() -> None:
    with pytest.raises(InvalidInput, match="encoding 'klingon' is unknown"):
        sniff(b"a\n", complete=True, encoding="klingon")
    with pytest.raises(InvalidInput, match="one character"):
        sniff(b"a\n", complete=True, delimiter="::")
