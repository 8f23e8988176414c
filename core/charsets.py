"""Decoding text that comes from outside (subtitle files and streams, dataset CSVs) into str.

Byte order marks and valid UTF-8 are taken as they are. Anything else is a legacy 8-bit or CJK
encoding: charset-normalizer proposes the candidates, and because short texts are ambiguous
(``Привет`` in Windows-1251 is also valid Windows-1252, KOI8-R and Big5 bytes) each candidate's
decoding is then judged by how word-like it reads: words in one script, in a normal letter case,
and Latin words that are not mostly accented letters (``Ïðèâåò`` is what cp1251 looks like when
read as cp1252). The encoding used is returned so it can be stored next to the text.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

from charset_normalizer import from_bytes

from core.errors import TaggerError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Tried even when charset-normalizer does not propose them (it often gives up on a few words);
# also the tie-break order: the encodings old subtitle and CSV files are most often in.
_LEGACY = ("cp1252", "cp1251", "koi8_r", "koi8_u", "cp1250", "iso8859_15", "cp866", "mac_cyrillic")
_WORD = re.compile(r"[^\W\d_]+")
# Non-ASCII characters that are not letters yet common in real text: typographic quotes and
# dashes, the numero sign, no-break space, CJK and full-width punctuation.
_COMMON_MARKS = re.compile(
    "[\u00a0\u00ab\u00b7\u00bb\u2013\u2014\u2018-\u201e\u2026\u2116\u3000-\u303f\uff00-\uffef]"
)
_JAPANESE = {"HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA"}  # one word mixes kana and kanji
TRUSTED_SHAPE = 0.8  # below this share of word-like letters the text is reported as doubtful


class TextDecodingError(TaggerError, ValueError):
    """Bytes that no known encoding turns into readable text."""


@dataclass(frozen=True)
class DecodedText:
    """Text and the encoding it was read with; ``doubtful`` when the choice was a weak guess."""

    text: str
    encoding: str
    doubtful: bool = False


def decode_text(raw: bytes) -> DecodedText:
    """``raw`` as text (BOM stripped); raises :class:`TextDecodingError` when nothing fits."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError as e:
                raise TextDecodingError(f"damaged {codec} text: {e.reason}") from e
            return DecodedText(
                text.lstrip("\ufeff"), "utf-8-sig" if codec == "utf-8-sig" else codec
            )
    utf16 = _bomless_utf16(raw)
    if utf16 is not None:
        return utf16
    try:
        return DecodedText(raw.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    candidates: dict[str, tuple[str, int]] = {}  # codec -> (text, charset-normalizer's rank)
    for position, match in enumerate(from_bytes(raw)):
        candidates.setdefault(codecs.lookup(match.encoding).name, (str(match), position))
    for codec in _LEGACY:
        name = codecs.lookup(codec).name
        if name not in candidates:
            try:
                candidates[name] = (raw.decode(codec), len(candidates) + 100)
            except UnicodeDecodeError:
                continue
    if not candidates:
        raise TextDecodingError("the bytes are not text in any known encoding")
    order = [codecs.lookup(c).name for c in _LEGACY]

    def rank(item: tuple[str, tuple[str, int]]) -> tuple[float, bool, int, int]:
        # equally word-like: the common 8-bit encodings in their order, then charset-normalizer's
        name, (text, position) = item
        preference = order.index(name) if name in order else len(order)
        return (-round(word_shape(text), 2), name not in order, preference, position)

    name, (text, _) = min(candidates.items(), key=rank)
    return DecodedText(text, name, doubtful=word_shape(text) < TRUSTED_SHAPE)


def word_shape(text: str) -> float:
    """Share (0..1) of letters in words that look like real words, among all letters and the
    uncommon non-ASCII symbols (mis-decoded bytes turn into both); 1.0 for text without words."""
    total = good = 0
    for word in _WORD.findall(text):
        total += len(word)
        if _plausible(word):
            good += len(word)
    total += sum(
        1
        for c in text
        if not c.isascii()
        and not c.isalpha()
        and not c.isdigit()
        and not c.isspace()
        and not _COMMON_MARKS.match(c)
    )
    return good / total if total else 1.0


def _bomless_utf16(raw: bytes) -> DecodedText | None:
    """UTF-16 without a byte order mark, for Latin, Greek and Cyrillic text: every high byte of
    the code units is at most 0x04 (U+0000 to U+04FF), the low bytes vary."""
    if len(raw) < 8 or len(raw) % 2:
        return None
    even, odd = set(raw[0::2]), set(raw[1::2])
    if max(odd) <= 4 and len(even) > 2 * len(odd):
        codec = "utf-16-le"
    elif max(even) <= 4 and len(odd) > 2 * len(even):
        codec = "utf-16-be"
    else:
        return None
    try:
        return DecodedText(raw.decode(codec), codec)
    except UnicodeDecodeError:
        return None


def _plausible(word: str) -> bool:
    scripts = {_script(c) for c in word}
    if len(scripts) != 1:
        return False
    uncased = word.lower() == word.upper()  # CJK, Arabic, Hebrew, ...
    cased = uncased or word.islower() or word.isupper() or word.istitle()
    if not cased:
        return False
    if scripts == {"LATIN"}:  # real Latin-script words are mostly plain ASCII letters
        return sum(not c.isascii() for c in word) * 2 <= len(word)
    return True


def _script(char: str) -> str:
    name = unicodedata.name(char, "")
    script = name.split(" ", 1)[0] if name else "UNKNOWN"
    return "CJK" if script in _JAPANESE else script
