"""Reading uploads: every format, every encoding, and every kind of bad file with a clear reason."""
from __future__ import annotations

import io
import zipfile

import docx
import pytest

from interviews.readers import Limits, ReadError, expand_archive, read_document, safe_name

SAMPLES = "tests/samples/import"


def zip_bytes(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("utf-8", "I: Hello 你好 😀\nR: Hi"),
        ("utf-8-sig", "I: Hello\nR: Hi"),
        ("utf-16", "I: 你好 😀\nR: 好的"),
        ("utf-16-le", "I: hello there, how are you today?\nR: fine, thanks for asking"),
        ("gb18030", "访谈者：请介绍一下您自己。\n受访者：我在杭州工作了五年，后来回到老家。"),
        ("big5", "訪談者：請介紹一下您自己。\n受訪者：我在台北工作了五年，後來回到老家。"),
        ("cp1252", "I: Où êtes-vous né?\nR: À Montréal, j’ai étudié là-bas."),
    ],
)
def test_text_encodings(encoding, text):
    result = read_document("t.txt", text.encode(encoding))
    assert result.text == text
    assert result.encoding is not None


def test_line_endings_are_normalised_once():
    assert read_document("t.txt", b"I: a\r\nR: b\rI: c\n").text == "I: a\nR: b\nI: c\n"


def test_docx_paragraphs_and_tables():
    document = docx.Document()
    document.add_paragraph("Interviewer: Hello")
    document.add_paragraph("R: 我很好")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "I", "And then?"
    table.cell(1, 0).text, table.cell(1, 1).text = "R", "We moved."
    buffer = io.BytesIO()
    document.save(buffer)
    result = read_document("x.docx", buffer.getvalue())
    assert result.text == "Interviewer: Hello\nR: 我很好\nI: And then?\nR: We moved."


def test_odt():
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
        "<text:h>Interview 3</text:h><text:p>I: Hello<text:s text:c=\"2\"/>there<text:tab/>x</text:p>"
        "<text:list><text:list-item><text:p>R: 你好<text:note><text:p>footnote</text:p></text:note></text:p>"
        "</text:list-item></text:list></office:text></office:body></office:document-content>"
    )
    result = read_document("x.odt", zip_bytes({"mimetype": b"application/vnd.oasis.opendocument.text",
                                                 "content.xml": content.encode()}))
    assert result.text == "Interview 3\nI: Hello  there\tx\nR: 你好"


def test_odt_with_entities_is_refused():
    content = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
               '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0">&a;'
               "</office:document-content>")
    with pytest.raises(ReadError, match="forbidden"):
        read_document("x.odt", zip_bytes({"content.xml": content.encode()}))


def test_rtf_with_code_pages():
    western = rb"{\rtf1\ansi\ansicpg1252{\fonttbl\f0 Arial;}I: caf\'e9\par R: fine\par}"
    assert read_document("x.rtf", western).text.strip() == "I: café\nR: fine"
    chinese = b"{\\rtf1\\ansi\\ansicpg936 I: " + "".join(
        f"\\'{b:02x}" for b in "你好".encode("gbk")).encode() + b"\\par}"
    assert "你好" in read_document("x.rtf", chinese).text


def test_vtt_voices_become_turns_and_timestamps_go():
    result = read_document("P04_zoom.vtt", open(f"{SAMPLES}/P04_zoom.vtt", "rb").read())
    assert result.text == ("Interviewer: Did Zhang Min help you return?\n"
                           "P04: Yes, she introduced me to Huawei. Then I moved to Hangzhou.\n")
    assert "-->" not in result.text


def test_srt_speaker_prefixes():
    srt = "1\n00:00:01,000 --> 00:00:02,000\nI: Hello\n\n2\n00:00:02,500 --> 00:00:03,000\nR: Hi there\nagain\n"
    assert read_document("x.srt", srt.encode()).text == "I: Hello\nR: Hi there again\n"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "is empty"),
        ("blank.txt", b"  \n\t\n", "is empty"),
        ("image.txt", bytes(range(256)) * 40, "could not be decoded|binary"),
        ("nul.txt", b"I: hello\x00\x00\x01\x02\x03 world" * 20, "binary"),
        ("program.exe", b"MZ\x90\x00", "unsupported type"),
        ("noextension", b"hello", "unsupported type"),
        ("fake.docx", b"I am not a zip file", "not a zip package"),
        ("fake.odt", b"PK\x03\x04 broken", "not a zip package"),
        ("fake.rtf", b"plain words", "not an RTF"),
        ("bad.vtt", b"this is not webvtt", "not a valid .vtt"),
    ],
)
def test_bad_files_get_a_clear_reason(name, data, reason):
    with pytest.raises(ReadError, match=reason):
        read_document(name, data)


def test_docx_zip_bomb_is_refused_before_extraction():
    bomb = zip_bytes({"word/document.xml": b"\x00" * (50 * 1024 * 1024)})
    assert len(bomb) < 200_000
    with pytest.raises(ReadError, match="zip bomb"):
        read_document("bomb.docx", bomb)


def test_file_over_the_size_limit():
    with pytest.raises(ReadError, match=r"larger than the limit of 1 MB"):
        read_document("big.txt", b"a" * (1024 * 1024 + 1), Limits(max_file_bytes=1024 * 1024))


@pytest.mark.parametrize("name", ["../../etc/passwd", "..\\..\\boot.ini", "", "/", "a/../../b.txt"])
def test_unsafe_names(name):
    with pytest.raises(ReadError):
        safe_name(name)


def test_safe_name_keeps_the_base_name():
    assert safe_name("folder/sub/P07 访谈.docx") == "P07 访谈.docx"
    assert safe_name("C:\\Users\\x\\P01.txt") == "P01.txt"
    assert safe_name("P0\x007\n.txt") == "P07.txt"


def test_archive_with_too_many_files_is_refused():
    many = zip_bytes({f"f{i}.txt": b"x" for i in range(10_000)}, zipfile.ZIP_STORED)
    with pytest.raises(ReadError, match="10,000 entries; the limit is 1,000"):
        expand_archive(many)


def test_archive_entries_with_unsafe_paths_are_left_out():
    files, skipped = expand_archive(zip_bytes({
        "good/P01.txt": b"I: hi", "../evil.txt": b"x", "/abs.txt": b"x", "__MACOSX/._P01.txt": b"x",
        ".hidden": b"x", "sub/": b"",
    }))
    assert files == [("P01.txt", b"I: hi")]
    assert sorted(name for name, _ in skipped) == ["../evil.txt", "/abs.txt"]


def test_archive_bomb_is_refused():
    with pytest.raises(ReadError, match=r"zip bomb|unpack to more"):
        expand_archive(zip_bytes({"a.txt": b"a" * (60 * 1024 * 1024)}))


def test_not_a_zip():
    with pytest.raises(ReadError, match="not a valid zip"):
        expand_archive(b"nope")
