"""Infer how a CSV file is written (encoding, delimiter, quoting, header) from its first bytes.

Pure: it reads a byte sample and returns a `CsvDialect` that says, for each property, what was
chosen and whether it was given or inferred, so that the user can see (and override) every
guess. The rules, in order:

- encoding: a byte-order mark wins; else UTF-16 if every other byte is zero; else UTF-8 if the
  sample decodes as UTF-8; else Windows-1252 if it decodes as that; else Latin-1;
- delimiter: among ``, \\t ; |`` the one that splits the sampled rows into the same number (more
  than one) of fields most consistently, ties going to the earlier candidate;
- quote character: ``'`` only if values are quoted with it and never with ``"``;
- header: the first row is a header if, in some column, it is text where the other rows hold
  numbers, dates or booleans; if the columns do not tell, if its values are distinct, non-empty
  and appear nowhere below it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field

from corridor.errors import InvalidInput

DELIMITERS = (",", "\t", ";", "|")
SAMPLE_ROWS = 50
UTF8 = "utf-8"
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_NUMBER = re.compile(r"[+-]?(\d[\d_]*\.?\d*|\.\d+)([eE][+-]?\d+)?%?|[+-]?(inf|nan)", re.IGNORECASE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")
_BOOLEAN = frozenset({"true", "false"})


class CsvDialect(BaseModel):
    """How a CSV file is written; ``inferred`` names the properties that were guessed."""

    encoding: str
    delimiter: str = Field(min_length=1, max_length=1)
    quote_char: str | None = Field(default='"', min_length=1, max_length=1)
    has_header: bool = True
    inferred: list[str] = Field(default_factory=list)

    @property
    def needs_transcoding(self) -> bool:
        """Whether the bytes must be re-encoded as UTF-8 before the CSV engine reads them."""
        return codecs.lookup(self.encoding).name not in ("utf-8", "utf-8-sig")


ACCEPTED_ENCODINGS = (
    "utf-8, utf-8-sig, utf-16, utf-32, latin-1, cp1252, iso-8859-15, shift_jis, gb18030"
)
"""Examples named when an encoding is refused; any Python codec of text is accepted."""
# Text codecs that do not describe how a file's characters are stored as bytes.
_NOT_FILE_ENCODINGS = frozenset(
    {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"}
)


def check_encoding(name: str) -> str:
    """Return the codec's canonical name; `InvalidInput` unless it is a text encoding.

    ``codecs.lookup`` also finds bytes-to-bytes codecs (``rot13``, ``base64``, ``zlib``) that
    cannot decode a file into text; those are refused here rather than failing mid-read.
    """
    try:
        info = codecs.lookup(name)
    except LookupError:
        info = None
    if info is None or not info._is_text_encoding or info.name in _NOT_FILE_ENCODINGS:
        why = "unknown" if info is None else "not a character encoding of text files"
        raise InvalidInput(
            f"encoding {name!r} is {why}: give the file's character encoding, "
            f"such as {ACCEPTED_ENCODINGS} (any Python text codec name)"
        )
    return info.name


# Control characters text files do not hold (tab, newlines, form feed, EOF and escape are
# allowed).
_CONTROL = re.compile("[\\x00-\\x08\\x0e-\\x19\\x1c-\\x1f\\x7f-\\x9f]")
CONTROL_SHARE = 0.01
"""Share of control characters above which a sample is binary, not text."""
UNDECODABLE_SHARE = 0.3
"""Share of characters that do not decode above which a sample is binary, not text."""


def binary_reason(sample: bytes, encoding: str, *, complete: bool) -> str | None:
    """Why ``sample``, read as ``encoding``, is not text (None if it is).

    A NUL character, control characters beyond `CONTROL_SHARE`, or bytes that do not decode
    beyond `UNDECODABLE_SHARE` mark binary data: images, executables and arrays of numbers
    decode to those under any encoding (Latin-1 decodes every byte, to control characters
    among others), while text has almost none. Text in another encoding than the one given has
    a few bad bytes per word at most, and is left to the decoder, which says where they are.
    """
    text = sample.decode(encoding, errors="replace")
    if not complete:
        text = text[:-1]  # a character cut at the end of the sample is not a fault
    text = text.lstrip("\ufeff")
    if not text:
        return None
    if "\x00" in text:
        return "it holds NUL characters, which text never does"
    controls = len(_CONTROL.findall(text))
    if controls > CONTROL_SHARE * len(text):
        return f"{controls} of its first {len(text)} characters are control characters"
    undecodable = text.count("\ufffd")
    if undecodable > UNDECODABLE_SHARE * len(text):
        return f"{undecodable} of its first {len(text)} characters are not valid {encoding}"
    return None


def detect_encoding(sample: bytes, *, complete: bool) -> str:
    """The encoding of ``sample`` (the whole file when ``complete``, else its first bytes)."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    # Text without a byte-order mark whose every other byte is zero is UTF-16 (it would
    # also pass as UTF-8, zero bytes being valid there).
    even, odd = sample[0::2], sample[1::2]
    if len(sample) >= 4:
        if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be"
    try:
        sample.decode(UTF8)
        return UTF8
    except UnicodeDecodeError as exc:
        # A sample cut in the middle of a character still counts as UTF-8.
        if not complete and exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return UTF8
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _text(sample: bytes, encoding: str, complete: bool) -> str:
    text = sample.decode(encoding, errors="replace")
    if not complete:
        # Drop the last, probably cut, line.
        cut = max(text.rfind("\n"), text.rfind("\r"))
        text = text[: cut + 1] if cut > 0 else text
    return text.lstrip("\ufeff")


def _rows(text: str, delimiter: str, quote_char: str | None) -> list[list[str]]:
    if quote_char is None:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter, quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quote_char)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) >= SAMPLE_ROWS:
                break
    except csv.Error:
        pass  # an unterminated quote in a cut sample: judge the rows read so far
    return rows


def _delimiter_score(rows: Sequence[Sequence[str]]) -> float:
    if not rows:
        return 0.0
    widths = Counter(len(r) for r in rows)
    width, count = widths.most_common(1)[0]
    return count / len(rows) if width > 1 else 0.0


def guess_delimiter(text: str, quote_char: str | None) -> str:
    best, best_score = DELIMITERS[0], 0.0
    for delimiter in DELIMITERS:
        score = _delimiter_score(_rows(text, delimiter, quote_char))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def guess_quote_char(text: str) -> str:
    def quoted(q: str) -> int:
        pattern = rf"(^|[,\t;|]){q}[^{q}\n]*{q}([,\t;|]|\r?$)"
        return len(re.findall(pattern, text, re.MULTILINE))

    return "'" if quoted("'") and not quoted('"') else '"'


def _kind(value: str) -> str:
    v = value.strip()
    if not v:
        return "empty"
    if _NUMBER.fullmatch(v):
        return "number"
    if _DATE.fullmatch(v):
        return "date"
    if v.lower() in _BOOLEAN:
        return "boolean"
    return "text"


def guess_header(rows: Sequence[Sequence[str]]) -> bool:
    if not rows:
        return True
    first, rest = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    if not rest:
        # One row: a header unless it looks like data.
        return not all(_kind(v) in ("number", "date", "boolean") for v in first)
    header_votes = data_votes = 0
    for j, value in enumerate(first):
        kinds = Counter(_kind(r[j]) for r in rest) - Counter({"empty": len(rest)})
        typed = [k for k in kinds if k != "text"]
        if kinds and len(typed) == 1 and kinds[typed[0]] >= 0.8 * sum(kinds.values()):
            if _kind(value) in (typed[0], "empty"):
                data_votes += 1
            else:
                header_votes += 1
        elif value and any(r[j] == value for r in rest):
            data_votes += 1
    if header_votes or data_votes:
        return header_votes > 0 and header_votes >= data_votes
    names = [v.strip() for v in first]
    return all(names) and len(set(names)) == len(names)


def sniff(
    sample: bytes,
    *,
    complete: bool,
    encoding: str | None = None,
    delimiter: str | None = None,
    quote_char: str | None = '"',
    has_header: bool | None = None,
    guess_quote: bool = True,
) -> CsvDialect:
    """Settle every property not given, from ``sample`` (the whole file when ``complete``).

    ``quote_char`` None means "no quoting"; pass ``guess_quote=False`` to keep the given one.
    """
    inferred = []
    if encoding is None:
        encoding = detect_encoding(sample, complete=complete)
        inferred.append("encoding")
    else:
        encoding = check_encoding(encoding)
    text = _text(sample, encoding, complete)
    if guess_quote:
        quote_char = guess_quote_char(text)
        inferred.append("quote_char")
    if delimiter is None:
        delimiter = guess_delimiter(text, quote_char)
        inferred.append("delimiter")
    elif len(delimiter) != 1:
        raise InvalidInput(f"a CSV delimiter is one character, got {delimiter!r}")
    if has_header is None:
        has_header = guess_header(_rows(text, delimiter, quote_char))
        inferred.append("has_header")
    return CsvDialect(
        encoding=encoding,
        delimiter=delimiter,
        quote_char=quote_char,
        has_header=has_header,
        inferred=inferred,
    )
