"""REFI-QDA codebooks (``.qdc``, namespace ``urn:QDA-XML:codebook:1.0``): build and parse. No Django.

Export is strict (the schema's element order, braces-free GUIDs, ``#rrggbb`` colours). Import is lenient with
real files: GUIDs with or without braces, any namespace version of the codebook or project schema, codes that are
folders (``isCodable="false"``), 3-digit colours. XML is parsed with defusedxml: no entities, no DTD.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from defusedxml import ElementTree as SafeET

NS = "urn:QDA-XML:codebook:1.0"
MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 50
MAX_CODES = 10_000
SECTIONS = (("when_to_use", "When to use:"), ("when_not_to_use", "When not to use:"), ("example", "Example:"))


class QdcError(ValueError):
    """The file is not a codebook we can read; the message says why."""


@dataclass
class QdcCode:
    guid: str
    name: str
    codable: bool = True
    color: str | None = None
    description: str = ""
    when_to_use: str = ""
    when_not_to_use: str = ""
    example: str = ""
    children: list[QdcCode] = field(default_factory=list)


def compose_description(code: QdcCode) -> str:
    """REFI has one Description: the definition's sections follow the description under fixed headings."""
    parts = [code.description.strip()] if code.description.strip() else []
    for attr, heading in SECTIONS:
        value = getattr(code, attr).strip()
        if value:
            parts.append(f"{heading} {value}")
    return "\n\n".join(parts)


def split_description(text: str) -> dict[str, str]:
    """The inverse of ``compose_description``; text from other programs stays whole in ``description``."""
    result = dict.fromkeys(("description", "when_to_use", "when_not_to_use", "example"), "")
    for block in re.split(r"\n\n(?=(?:When to use:|When not to use:|Example:) )", text.strip()):
        for attr, heading in SECTIONS:
            if block.startswith(heading + " "):
                result[attr] = block[len(heading) + 1 :].strip()
                break
        else:
            result["description"] = f"{result['description']}\n\n{block}".strip() if result["description"] else block
    return result


def normalise_guid(raw: str) -> str:
    try:
        return str(uuid.UUID(raw.strip().strip("{}")))
    except ValueError:
        raise QdcError(f"{raw!r} is not a GUID") from None


def normalise_color(raw: str | None) -> str | None:
    if not raw:
        return None
    value = raw.strip()
    if re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return value.lower()
    if re.fullmatch(r"#[0-9a-fA-F]{3}", value):
        return "#" + "".join(ch * 2 for ch in value[1:]).lower()
    return None


def build_qdc(codes: list[QdcCode], origin: str = "Interview workbench") -> bytes:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<CodeBook xmlns="{NS}" origin={quoteattr(origin)}>',
             "<Codes>"]

    def emit(code: QdcCode, depth: int) -> None:
        pad = "  " * depth
        codable = quoteattr(str(code.codable).lower())
        attrs = f"guid={quoteattr(code.guid)} name={quoteattr(code.name)} isCodable={codable}"
        if code.color:
            attrs += f" color={quoteattr(code.color)}"
        description = compose_description(code)
        if not description and not code.children:
            lines.append(f"{pad}<Code {attrs}/>")
            return
        lines.append(f"{pad}<Code {attrs}>")
        if description:
            lines.append(f"{pad}  <Description>{escape(description)}</Description>")
        for child in code.children:
            emit(child, depth + 1)
        lines.append(f"{pad}</Code>")

    for code in codes:
        emit(code, 1)
    lines += ["</Codes>", "</CodeBook>", ""]
    if not codes:
        raise QdcError("The codebook is empty; REFI-QDA requires at least one code.")
    return "\n".join(lines).encode("utf-8")


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def parse_qdc(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
              max_codes: int = MAX_CODES) -> list[QdcCode]:
    """The code tree of a ``.qdc`` file (or of the ``CodeBook`` inside a project file)."""
    if len(data) > max_bytes:
        raise QdcError(f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
    if not data.strip():
        raise QdcError("The file is empty.")
    try:
        root = SafeET.fromstring(data)
    except SafeET.ParseError as exc:
        raise QdcError(f"The file is not well-formed XML ({exc}).") from None
    except Exception as exc:  # defusedxml's refusals: DTDs, entities, external references
        raise QdcError(f"The file was refused: it uses forbidden XML constructs ({type(exc).__name__}).") from None
    ns, name = _local(root.tag)
    if not ns.startswith("urn:QDA-XML:"):
        raise QdcError("This is not a REFI-QDA codebook (wrong XML namespace).")
    if name != "CodeBook":
        book = next((el for el in root.iter() if _local(el.tag)[1] == "CodeBook"), None)
        if book is None:
            raise QdcError("No CodeBook element was found.")
        root = book
    codes_el = next((el for el in root if _local(el.tag)[1] == "Codes"), None)
    if codes_el is None:
        raise QdcError("The codebook has no Codes element.")
    count = 0
    seen: set[str] = set()

    def convert(element, depth: int) -> QdcCode:
        nonlocal count
        if depth > max_depth:
            raise QdcError(f"Codes are nested more than {max_depth} levels deep.")
        count += 1
        if count > max_codes:
            raise QdcError(f"The codebook has more than {max_codes:,} codes.")
        guid = normalise_guid(element.get("guid", ""))
        if guid in seen:
            raise QdcError(f"The GUID {guid} is used by two codes.")
        seen.add(guid)
        code_name = " ".join((element.get("name") or "").split())
        if not code_name:
            raise QdcError(f"The code {guid} has no name.")
        description = ""
        children = []
        for child in element:
            child_name = _local(child.tag)[1]
            if child_name == "Description":
                description = (child.text or "").strip()
            elif child_name == "Code":
                children.append(convert(child, depth + 1))
        sections = split_description(description)
        codable = element.get("isCodable", "true").strip().lower() != "false"
        return QdcCode(guid=guid, name=code_name, codable=codable, color=normalise_color(element.get("color")),
                       children=children, **sections)

    return [convert(el, 1) for el in codes_el if _local(el.tag)[1] == "Code"]
