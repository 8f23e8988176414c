"""Text decoding of outside bytes: BOMs, UTF-8, UTF-16 without BOM and legacy code pages, with
Cyrillic in the encodings old Russian-language catalogues use."""

from __future__ import annotations

import pytest

from core.charsets import decode_text, word_shape

RUSSIAN = "Привет, мир! Футбольный матч начинается в семь часов."
SHORT = "Привет, мир"


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [
        ("cp1251", "cp1251"),
        ("koi8-r", "koi8-r"),
        ("utf-16", "utf-16"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-8", "utf-8"),
        ("utf-16-le", "utf-16-le"),  # no byte order mark
        ("cp866", None),  # DOS Cyrillic: some Cyrillic page, the words must come out right
    ],
)
@pytest.mark.parametrize("text", [RUSSIAN, SHORT])
def test_cyrillic_in_every_common_encoding(text, encoding, detected):
    decoded = decode_text(text.encode(encoding))
    assert decoded.text == text
    assert detected is None or decoded.encoding == detected
    assert not decoded.doubtful


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Café crème brûlée", "cp1252"),
        ("Größe und Übermaß für die Straße", "cp1252"),
        ("Καλημέρα κόσμε", "cp1253"),
        ("こんにちは、世界。字幕のテストです。", "shift_jis"),
        ("中文字幕测试，足球比赛今天开始。", "gb2312"),
        ("Привіт, світ! Українська мова.", "koi8-u"),
    ],
)
def test_other_languages(text, encoding):
    assert decode_text(text.encode(encoding)).text == text


def test_mojibake_reads_as_implausible():
    right = "Привет, как дела"
    assert word_shape(right) == 1.0
    for wrong in ("cp1252", "koi8-r", "cp1250"):
        assert word_shape(right.encode("cp1251").decode(wrong)) < 0.6, wrong


def test_bytes_that_are_no_text_are_flagged_doubtful():
    garbage = bytes(range(128, 256)) * 4
    assert decode_text(garbage).doubtful
