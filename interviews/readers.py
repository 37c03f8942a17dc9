"""Reading uploaded transcript files into text. No Django: bytes in, text (or a clear reason) out.

Formats: ``.txt``/``.md`` in any common encoding (BOM first, then strict UTF-8, then charset-normalizer), ``.docx``
(python-docx, paragraphs and table rows kept in order), ``.odt`` (its ``content.xml`` through defusedxml),
``.rtf`` (striprtf, with the document's code page), ``.vtt``/``.srt`` (webvtt-py; timestamps dropped, speaker voices
kept, consecutive cues of one speaker joined into one turn), and ``.zip`` archives of these. Line endings become
``\\n``. Archives are checked before anything is extracted: entry count, sizes, compression ratio, unsafe paths.
"""
from __future__ import annotations

import io
import posixpath
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field

import charset_normalizer
from defusedxml import ElementTree as SafeET

TEXT_FORMATS = ("txt", "md")
FORMATS = ("txt", "md", "docx", "odt", "rtf", "vtt", "srt")
ARCHIVE = "zip"


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 20 * 1024 * 1024
    max_archive_entries: int = 1000
    max_archive_total_bytes: int = 500 * 1024 * 1024
    max_compression_ratio: int = 100
    # Inside a .docx/.odt (itself a zip): enough for any real document.
    max_document_unzipped_bytes: int = 200 * 1024 * 1024


class ReadError(ValueError):
    """The file cannot be read; the message says why in words a researcher understands."""


@dataclass
class ReadResult:
    text: str
    format: str
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def safe_name(name: str) -> str:
    """The file's own name without any directory part; refuses names that try to climb out of a folder."""
    cleaned = "".join(ch for ch in (name or "") if unicodedata.category(ch)[0] != "C")
    parts = re.split(r"[\\/]+", cleaned)
    if any(part == ".." for part in parts):
        raise ReadError("has an unsafe name (it points outside its folder)")
    base = parts[-1].strip() if parts else ""
    if not base or base in {".", ".."}:
        raise ReadError("has no usable file name")
    return base[:200]


def extension(name: str) -> str:
    return posixpath.splitext(name.lower())[1].lstrip(".")


def _human(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


# --- archives -------------------------------------------------------------------------------------------------
def _check_zip(archive: zipfile.ZipFile, limits: Limits, *, total_limit: int, what: str) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > limits.max_archive_entries:
        raise ReadError(f"{what} holds {len(infos):,} entries; the limit is {limits.max_archive_entries:,}")
    total = 0
    for info in infos:
        total += info.file_size
        if total > total_limit:
            raise ReadError(f"{what} would unpack to more than {_human(total_limit)}")
        if info.compress_size and info.file_size / info.compress_size > limits.max_compression_ratio:
            raise ReadError(f"{what} is compressed suspiciously well (a zip bomb?)")
    return infos


def expand_archive(data: bytes, limits: Limits = Limits()) -> tuple[list[tuple[str, bytes]], list[tuple[str, str]]]:
    """The files inside a .zip upload as ``(name, bytes)``, and ``(name, reason)`` for entries left out."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ReadError("is not a valid zip archive") from None
    with archive:
        infos = _check_zip(archive, limits, total_limit=limits.max_archive_total_bytes, what="the archive")
        files: list[tuple[str, bytes]] = []
        skipped: list[tuple[str, str]] = []
        for info in infos:
            raw = info.filename
            if info.is_dir():
                continue
            parts = raw.replace("\\", "/").split("/")
            if raw.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw) or ".." in parts:
                skipped.append((raw, "has an unsafe path inside the archive and was not extracted"))
                continue
            base = parts[-1]
            if parts[0] == "__MACOSX" or base.startswith("."):
                continue
            if info.file_size > limits.max_file_bytes:
                skipped.append((base, f"is larger than the limit of {_human(limits.max_file_bytes)}"))
                continue
            files.append((base, archive.read(info)))
        return files, skipped


# --- plain text -----------------------------------------------------------------------------------------------
BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _looks_binary(text: str) -> bool:
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    return "\x00" in text or controls > max(2, len(text) // 100)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes of a text file; returns ``(text, encoding)``."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom):].decode(encoding.replace("-sig", ""))
            except UnicodeDecodeError:
                raise ReadError(f"starts with a {encoding} byte-order mark but is not valid {encoding}") from None
            return text, encoding
    if b"\x00" in data[:4096] and data.count(b"\x00") > len(data) // 4:
        # UTF-16 without a byte-order mark: every other byte of ASCII text is NUL.
        for encoding in ("utf-16-le", "utf-16-be"):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            if not _looks_binary(text):
                return text, encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    results = charset_normalizer.from_bytes(data)
    best = results.best()
    if best is None:
        raise ReadError("could not be decoded as text in any known encoding")
    if best.encoding != "cp1252":
        # Short Western European texts often fit Central European code pages equally well; when Windows-1252
        # fits as well as the winner, take it: it is by far the more common.
        for match in results:
            if (match.encoding == "cp1252" and match.chaos <= best.chaos + 0.01
                    and match.coherence >= best.coherence - 0.01):
                return str(match), "cp1252"
    return str(best), best.encoding


def read_text(data: bytes) -> ReadResult:
    text, encoding = decode_text(data)
    if _looks_binary(text):
        raise ReadError("looks like a binary file, not text")
    return ReadResult(normalise_newlines(text), "txt", encoding)


# --- word processors ------------------------------------------------------------------------------------------
def _open_document_zip(data: bytes, limits: Limits, kind: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ReadError(f"is not a valid {kind} file (it is not a zip package)") from None
    try:
        _check_zip(archive, limits, total_limit=limits.max_document_unzipped_bytes, what=f"the {kind} file")
    except ReadError:
        archive.close()
        raise
    return archive


def read_docx(data: bytes, limits: Limits = Limits()) -> ReadResult:
    import docx
    from docx.table import Table

    _open_document_zip(data, limits, ".docx").close()
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many types for broken packages
        raise ReadError(f"is not a readable .docx file ({type(exc).__name__})") from None
    lines: list[str] = []
    notes: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            notes.append("table rows were read as speaker turns where the first cell is a short label")
            for row in block.rows:
                cells = [c.text.strip() for c in row.cells]
                cells = [c for i, c in enumerate(cells) if c and (i == 0 or c != cells[i - 1])]
                if len(cells) >= 2 and len(cells[0]) <= 40 and "\n" not in cells[0]:
                    lines.append(f"{cells[0]}: {' '.join(cells[1:])}")
                elif cells:
                    lines.append("\t".join(cells))
        else:
            lines.append(block.text)
    return ReadResult(normalise_newlines("\n".join(lines)), "docx", notes=sorted(set(notes)))


ODF_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
ODF_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"


def _odf_inline(element, out: list[str]) -> None:
    if element.text:
        out.append(element.text)
    for child in element:
        tag = child.tag
        if tag == f"{{{ODF_TEXT}}}s":
            out.append(" " * int(child.get(f"{{{ODF_TEXT}}}c", "1")))
        elif tag == f"{{{ODF_TEXT}}}tab":
            out.append("\t")
        elif tag == f"{{{ODF_TEXT}}}line-break":
            out.append("\n")
        elif tag in (f"{{{ODF_TEXT}}}note", f"{{{ODF_OFFICE}}}annotation"):
            pass  # footnotes and comments are not part of the interview
        else:
            _odf_inline(child, out)
        if child.tail:
            out.append(child.tail)


def _odf_blocks(element, lines: list[str]) -> None:
    for child in element:
        if child.tag in (f"{{{ODF_TEXT}}}p", f"{{{ODF_TEXT}}}h"):
            parts: list[str] = []
            _odf_inline(child, parts)
            lines.append("".join(parts))
        else:
            _odf_blocks(child, lines)


def read_odt(data: bytes, limits: Limits = Limits()) -> ReadResult:
    with _open_document_zip(data, limits, ".odt") as archive:
        try:
            content = archive.read("content.xml")
        except KeyError:
            raise ReadError("is not a valid .odt file (no content.xml)") from None
    try:
        root = SafeET.fromstring(content)
    except SafeET.ParseError:
        raise ReadError("is not a valid .odt file (its content is not well-formed XML)") from None
    except Exception as exc:  # defusedxml refuses entities and DTDs
        raise ReadError(f"was refused: its XML uses forbidden constructs ({type(exc).__name__})") from None
    body = root.find(f"{{{ODF_OFFICE}}}body")
    lines: list[str] = []
    if body is not None:
        _odf_blocks(body, lines)
    return ReadResult(normalise_newlines("\n".join(lines)), "odt")


RTF_CODEPAGES = {"936": "gbk", "950": "big5", "1252": "cp1252", "1251": "cp1251", "932": "cp932", "949": "cp949",
                 "65001": "utf-8"}


def read_rtf(data: bytes) -> ReadResult:
    from striprtf.striprtf import rtf_to_text

    head = data[:4096].decode("latin-1")
    if not head.lstrip().startswith("{\\rtf"):
        raise ReadError("is not an RTF document")
    match = re.search(r"\\ansicpg(\d+)", head)
    encoding = RTF_CODEPAGES.get(match.group(1), f"cp{match.group(1)}") if match else "cp1252"
    try:
        text = rtf_to_text(data.decode("latin-1"), encoding=encoding, errors="replace")
    except Exception as exc:
        raise ReadError(f"could not be read as RTF ({type(exc).__name__})") from None
    return ReadResult(normalise_newlines(text), "rtf", encoding)


# --- subtitles ------------------------------------------------------------------------------------------------
SPEAKER_IN_TEXT = re.compile(r"^\s*([^:：\n]{1,40}?)\s*[:：]\s+(.*)$", re.DOTALL)


def read_subtitles(data: bytes, fmt: str) -> ReadResult:
    import webvtt

    text, encoding = decode_text(data)
    try:
        captions = webvtt.from_buffer(io.StringIO(normalise_newlines(text)), format=fmt).captions
    except Exception as exc:  # webvtt-py raises its own errors for malformed files
        raise ReadError(f"is not a valid .{fmt} subtitle file ({type(exc).__name__})") from None
    turns: list[tuple[str | None, str]] = []
    for caption in captions:
        body = " ".join(line.strip() for line in caption.text.splitlines() if line.strip())
        if not body:
            continue
        speaker = caption.voice.strip() if getattr(caption, "voice", None) else None
        if speaker is None:
            match = SPEAKER_IN_TEXT.match(body)
            if match and len(match.group(1).split()) <= 3:
                speaker, body = match.group(1).strip(), match.group(2).strip()
        if turns and speaker is not None and turns[-1][0] == speaker:
            turns[-1] = (speaker, f"{turns[-1][1]} {body}")
        else:
            turns.append((speaker, body))
    lines = [f"{speaker}: {body}" if speaker else body for speaker, body in turns]
    notes = [f"{len(captions)} cues read; timestamps dropped"]
    return ReadResult("\n".join(lines) + ("\n" if lines else ""), fmt, encoding, notes)


def read_document(name: str, data: bytes, limits: Limits = Limits()) -> ReadResult:
    """Read one uploaded file. Raises ReadError with a reason fit to show the researcher."""
    ext = extension(name)
    if ext not in FORMATS:
        supported = ", ".join(f".{f}" for f in (*FORMATS, ARCHIVE))
        raise ReadError(f"has an unsupported type ({'.' + ext if ext else 'no extension'}); supported: {supported}")
    if len(data) > limits.max_file_bytes:
        raise ReadError(f"is larger than the limit of {_human(limits.max_file_bytes)}")
    if not data.strip():
        raise ReadError("is empty")
    if ext in TEXT_FORMATS:
        result = read_text(data)
        result.format = ext
    elif ext == "docx":
        result = read_docx(data, limits)
    elif ext == "odt":
        result = read_odt(data, limits)
    elif ext == "rtf":
        result = read_rtf(data)
    else:
        result = read_subtitles(data, ext)
    if not result.text.strip():
        raise ReadError("contains no text")
    return result
