"""REFI-QDA projects (``.qdpx``): a whole study out, and a project from another QDA program (or a backup) in.

Export is strict (Project.xsd's element order, code points, end exclusive, ``sources/<guid>.txt`` in UTF-8
without BOM, exactly the stored text). Import is lenient with real files (``Sources/`` or ``sources/``, any single
``*.qde``, ``plainTextPath`` with or without ``internal://``, namespace versions by prefix, the coder from
``Coding@creatingUser`` then the selection's users) and strict about safety: the archive is checked before
anything is extracted, XML goes through defusedxml, and the import is one transaction — a bad file imports nothing.
"""
from __future__ import annotations

import io
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from defusedxml import ElementTree as SafeET
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from codebook.interchange import _qdc_tree
from codebook.models import Code, Coding, Layer, Memo
from codebook.refi import QdcError, compose_description, parse_qdc
from interviews.models import Attribute, AttributeValue, Membership, Participant, Role, Study, Transcript
from interviews.services import (
    attribute_define,
    audit_record,
    membership_set,
    participant_create,
    participant_set_values,
    study_create,
    transcript_create,
)

NS = "urn:QDA-XML:project:1.0"
WORKBENCH = uuid.UUID("6f0c3a52-5d54-4f55-9a0e-3b7a2f4c1d20")
CONSENSUS_USER = "consensus"
MAX_ENTRIES = 5000
MAX_TOTAL = 500 * 1024 * 1024
MAX_RATIO = 200
MAX_QDE = 100 * 1024 * 1024
VARIABLE_TYPES = {"text": "Text", "choice": "Text", "number": "Float", "date": "Date", "boolean": "Boolean"}


def _guid(*parts: Any) -> str:
    return str(uuid.uuid5(WORKBENCH, ":".join(str(p) for p in parts)))


# --- export ---------------------------------------------------------------------------------------------------
def export_project(study: Study) -> bytes:
    """The study as a ``.qdpx`` archive (bytes)."""
    users = {}
    codings = list(Coding.objects.filter(transcript__study=study).select_related("coder", "code")
                   .order_by("transcript_id", "start", "end", "id"))
    for c in codings:
        name = CONSENSUS_USER if c.layer == Layer.CONSENSUS else c.coder.get_username()
        users.setdefault(name, _guid(study.slug, "user", name))
    attributes = list(Attribute.objects.filter(study=study))
    values = {(v.participant_id, v.attribute_id): v.value for v in AttributeValue.objects.filter(
        participant__study=study)}
    transcripts = list(Transcript.objects.filter(study=study).order_by("pk"))
    source_guid = {t.pk: _guid(study.slug, "source", t.pk) for t in transcripts}
    memos = list(Memo.objects.filter(study=study))
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<Project xmlns="{NS}" name={quoteattr(study.name)} origin="Interview workbench">']
    if users:
        out.append("<Users>")
        out += [f"<User guid={quoteattr(g)} name={quoteattr(n)}/>" for n, g in sorted(users.items())]
        out.append("</Users>")
    roots = _qdc_tree(study)
    # Memos about a code (and no transcript) hang from the code as NoteRefs; the Notes themselves come later.
    code_memos: dict[str, list[Memo]] = {}
    code_guid = dict(Code.objects.filter(study=study).values_list("pk", "guid"))
    for m in memos:
        if m.transcript_id is None and m.code_id is not None:
            code_memos.setdefault(str(code_guid[m.code_id]), []).append(m)
    if roots:
        out.append("<CodeBook><Codes>")

        def emit(code) -> None:
            attrs = (f"guid={quoteattr(code.guid)} name={quoteattr(code.name)} "
                     f"isCodable={quoteattr(str(code.codable).lower())}" +
                     (f" color={quoteattr(code.color)}" if code.color else ""))
            description = compose_description(code)
            out.append(f"<Code {attrs}>")
            if description:
                out.append(f"<Description>{escape(description)}</Description>")
            for m in code_memos.get(str(code.guid), []):
                out.append(f"<NoteRef targetGUID={quoteattr(_guid(study.slug, 'memo', m.pk))}/>")
            for child in code.children:
                emit(child)
            out.append("</Code>")

        for root in roots:
            emit(root)
        out.append("</Codes></CodeBook>")
    if attributes:
        out.append("<Variables>")
        out += [f"<Variable guid={quoteattr(_guid(study.slug, 'variable', a.pk))} name={quoteattr(a.name)} "
                f"typeOfVariable={quoteattr(VARIABLE_TYPES[a.type])}/>" for a in attributes]
        out.append("</Variables>")
    participants = list(Participant.objects.filter(study=study).order_by("label"))
    if participants:
        out.append("<Cases>")
        by_participant: dict[int, list[str]] = {}
        for t in transcripts:
            by_participant.setdefault(t.participant_id, []).append(source_guid[t.pk])
        for p in participants:
            out.append(f"<Case guid={quoteattr(_guid(study.slug, 'case', p.pk))} name={quoteattr(p.label)}>")
            for a in attributes:
                value = values.get((p.pk, a.pk))
                if value is None:
                    continue
                element = {"Text": "TextValue", "Float": "FloatValue", "Date": "DateValue",
                           "Boolean": "BooleanValue"}[VARIABLE_TYPES[a.type]]
                out.append(f"<VariableValue><VariableRef targetGUID={quoteattr(_guid(study.slug, 'variable', a.pk))}"
                           f"/><{element}>{escape(value)}</{element}></VariableValue>")
            out += [f"<SourceRef targetGUID={quoteattr(g)}/>" for g in by_participant.get(p.pk, [])]
            out.append("</Case>")
        out.append("</Cases>")
    notes: list[tuple[str, str, str]] = []  # guid, name, text
    if transcripts:
        out.append("<Sources>")
        by_transcript: dict[int, list[Coding]] = {}
        for c in codings:
            by_transcript.setdefault(c.transcript_id, []).append(c)
        for t in transcripts:
            guid = source_guid[t.pk]
            out.append(f"<TextSource guid={quoteattr(guid)} name={quoteattr(t.title)} "
                       f"plainTextPath={quoteattr(f'internal://{guid}.txt')}>")
            for c in by_transcript.get(t.pk, []):
                user = users[CONSENSUS_USER if c.layer == Layer.CONSENSUS else c.coder.get_username()]
                selection = _guid(study.slug, "selection", c.pk)
                out.append(f"<PlainTextSelection guid={quoteattr(selection)} startPosition=\"{c.start}\" "
                           f"endPosition=\"{c.end}\" creatingUser={quoteattr(user)} "
                           f"creationDateTime={quoteattr(c.created_at.strftime('%Y-%m-%dT%H:%M:%SZ'))}>")
                out.append(f"<Coding guid={quoteattr(_guid(study.slug, 'coding', c.pk))} creatingUser="
                           f"{quoteattr(user)}><CodeRef targetGUID={quoteattr(str(c.code.guid))}/>")
                if c.memo:
                    note = _guid(study.slug, "coding-memo", c.pk)
                    notes.append((note, f"Memo on {c.code.name}", c.memo))
                    out.append(f"<NoteRef targetGUID={quoteattr(note)}/>")
                out.append("</Coding></PlainTextSelection>")
            for m in memos:
                if m.transcript_id == t.pk:
                    note = _guid(study.slug, "memo", m.pk)
                    notes.append((note, m.title, m.body))
                    out.append(f"<NoteRef targetGUID={quoteattr(note)}/>")
            out.append("</TextSource>")
        out.append("</Sources>")
    study_notes = []
    for m in memos:
        if m.transcript_id is None:
            note = _guid(study.slug, "memo", m.pk)
            notes.append((note, m.title, m.body))
            if m.code_id is None:
                study_notes.append(note)
    if notes:
        out.append("<Notes>")
        out += [f"<Note guid={quoteattr(g)} name={quoteattr(n)}><PlainTextContent>{escape(text)}</PlainTextContent>"
                "</Note>" for g, n, text in notes]
        out.append("</Notes>")
    if study.description:
        out.append(f"<Description>{escape(study.description)}</Description>")
    out += [f"<NoteRef targetGUID={quoteattr(g)}/>" for g in study_notes]
    out.append("</Project>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", "\n".join(out).encode("utf-8"))
        for t in transcripts:
            archive.writestr(f"sources/{source_guid[t.pk]}.txt", t.text.encode("utf-8"))
    return buffer.getvalue()


# --- import ---------------------------------------------------------------------------------------------------
@dataclass
class ImportReport:
    study: Study | None = None
    sources: int = 0
    codings: int = 0
    users: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    skipped_sources: list[str] = field(default_factory=list)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element, name: str) -> list:
    return [c for c in element if _local(c.tag) == name]


def _child(element, name: str):
    return next((c for c in element if _local(c.tag) == name), None)


def _open_archive(data: bytes) -> tuple[zipfile.ZipFile, str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ValidationError("This is not a .qdpx file (not a zip archive).") from None
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ValidationError(f"The archive holds {len(infos):,} entries; the limit is {MAX_ENTRIES:,}.")
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in name.split("/"):
            raise ValidationError(f"The archive contains an unsafe path: {info.filename!r}.")
        total += info.file_size
        if total > MAX_TOTAL:
            raise ValidationError("The archive would unpack to more than 500 MB.")
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1_000_000:
            raise ValidationError("The archive is compressed suspiciously well (a zip bomb?).")
    qdes = [i.filename for i in infos if "/" not in i.filename.strip("/") and i.filename.lower().endswith(".qde")]
    if len(qdes) != 1:
        raise ValidationError("The archive must hold exactly one .qde project file at its top level.")
    if archive.getinfo(qdes[0]).file_size > MAX_QDE:
        raise ValidationError("The project file is larger than 100 MB.")
    return archive, qdes[0]


def _source_text(archive: zipfile.ZipFile, source) -> str | None:
    inline = _child(source, "PlainTextContent")
    if inline is not None and inline.text is not None:
        return inline.text
    path = source.get("plainTextPath") or ""
    if not path:
        return None
    name = path.split("://", 1)[1] if "://" in path else path
    name = name.lstrip("/")
    wanted = {f"sources/{name}".lower(), name.lower()}
    entry = next((i for i in archive.namelist() if i.lower() in wanted), None)
    if entry is None:
        return None
    raw = archive.read(entry)
    return raw.decode("utf-8-sig", errors="replace")


def _position_map(raw: str, unit: str) -> list[int]:
    """Map positions in the file's own counting (UTF-16 units, or code points, over the raw text with CRLF) to
    code points of the stored text (line endings normalised to LF)."""
    mapping = [0]
    stored = 0
    for i, ch in enumerate(raw):
        if ch == "\r" and i + 1 < len(raw) and raw[i + 1] == "\n":
            step_stored = 0  # the CR of a CRLF disappears
        else:
            step_stored = 1
        width = 2 if unit == "utf16" and ord(ch) > 0xFFFF else 1
        stored += step_stored
        mapping.extend([stored] * width)
    return mapping


def _username(name: str, guid: str) -> str:
    clean = re.sub(r"[^\w.@+-]", "_", (name or "").strip())[:150]
    return clean or f"user-{guid[:8]}"


@transaction.atomic
def import_project(*, data: bytes, actor: Any, name: str | None = None) -> ImportReport:
    """A new study from a ``.qdpx``. All or nothing: on any error nothing is imported."""
    archive, qde = _open_archive(data)
    raw_xml = archive.read(qde)
    try:
        root = SafeET.fromstring(raw_xml)
    except SafeET.ParseError as exc:
        raise ValidationError(f"The project file is not well-formed XML ({exc}).") from None
    except Exception as exc:  # defusedxml's refusals
        raise ValidationError(f"The project file uses forbidden XML constructs ({type(exc).__name__}).") from None
    if _local(root.tag) != "Project" or not root.tag.startswith("{urn:QDA-XML:project"):
        raise ValidationError("This is not a REFI-QDA project (no Project element in the project namespace).")
    origin = root.get("origin") or ""
    unit = "utf16" if origin.lower().startswith("nvivo") and "mac" not in origin.lower() else "codepoints"
    report = ImportReport()
    study = study_create(name=(name or root.get("name") or "Imported project")[:200], actor=actor,
                         description=f"Imported from a REFI-QDA project made by {origin or 'an unknown program'}.",
                         blind_coding=False)
    report.study = study
    if actor is not None and getattr(actor, "is_authenticated", False):
        membership_set(study=study, user=actor, role=Role.PI, actor=actor)
    # Users
    User = get_user_model()
    users: dict[str, Any] = {}
    users_el = _child(root, "Users")
    for user_el in _children(users_el, "User") if users_el is not None else []:
        guid = (user_el.get("guid") or "").strip("{}").lower()
        username = _username(user_el.get("name") or "", guid)
        if username == CONSENSUS_USER:
            users[guid] = CONSENSUS_USER
            continue
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username)
            user.set_unusable_password()  # can log in only once an administrator sets a password
            user.save()
        users[guid] = user
        if not Membership.objects.filter(study=study, user=user).exists():
            membership_set(study=study, user=user, role=Role.CODER, actor=actor)
        report.users.append(username)
    fallback_user = actor if getattr(actor, "is_authenticated", False) else None
    # Codebook
    codes_by_guid: dict[str, Code] = {}
    if _child(root, "CodeBook") is not None:
        from codebook.interchange import codebook_import_qdc

        try:
            parse_qdc(raw_xml, max_bytes=MAX_QDE)
        except QdcError as exc:
            raise ValidationError(f"The project's codebook cannot be read: {exc}") from None
        codebook_import_qdc(study=study, data=raw_xml, actor=actor)
        codes_by_guid = {str(c.guid): c for c in Code.objects.filter(study=study)}
    # Variables and cases
    variables: dict[str, Attribute] = {}
    vars_el = _child(root, "Variables")
    types = {"Text": "text", "Boolean": "boolean", "Integer": "number", "Float": "number", "Date": "date",
             "DateTime": "date"}
    for var in _children(vars_el, "Variable") if vars_el is not None else []:
        attribute = attribute_define(study=study, name=(var.get("name") or "Variable")[:100],
                                     type=types.get(var.get("typeOfVariable") or "Text", "text"), actor=actor)
        variables[(var.get("guid") or "").strip("{}").lower()] = attribute
    participant_of_source: dict[str, Participant] = {}
    cases_el = _child(root, "Cases")
    for n, case in enumerate(_children(cases_el, "Case") if cases_el is not None else [], start=1):
        label = (case.get("name") or f"Case {n}").strip()[:50]
        participant = Participant.objects.filter(study=study, label=label).first() or participant_create(
            study=study, label=label, actor=actor)
        vals = {}
        for vv in _children(case, "VariableValue"):
            ref = _child(vv, "VariableRef")
            attribute = variables.get((ref.get("targetGUID") or "").strip("{}").lower()) if ref is not None else None
            value_el = next((c for c in vv if _local(c.tag) != "VariableRef"), None)
            if attribute is not None and value_el is not None and (value_el.text or "").strip():
                text = value_el.text.strip()
                vals[attribute.name] = text[:10] if _local(value_el.tag) == "DateTimeValue" else text
        if vals:
            participant_set_values(participant=participant, values=vals, actor=actor)
        for ref in _children(case, "SourceRef"):
            participant_of_source[(ref.get("targetGUID") or "").strip("{}").lower()] = participant
    # Notes
    notes: dict[str, tuple[str, str]] = {}
    notes_el = _child(root, "Notes")
    for note in _children(notes_el, "Note") if notes_el is not None else []:
        content = _child(note, "PlainTextContent")
        notes[(note.get("guid") or "").strip("{}").lower()] = (note.get("name") or "Note",
                                                               (content.text if content is not None else "") or "")
    # Sources, selections, codings
    sources_el = _child(root, "Sources")
    for source in _children(sources_el, "TextSource") if sources_el is not None else []:
        guid = (source.get("guid") or "").strip("{}").lower()
        raw = _source_text(archive, source)
        title = (source.get("name") or guid[:8] or "Source").strip()[:200]
        if raw is None:
            report.skipped_sources.append(f"{title}: no plain text in the archive (only rich text is not read)")
            continue
        if not raw.strip():
            report.skipped_sources.append(f"{title}: its text is empty")
            continue
        participant = participant_of_source.get(guid)
        if participant is None:
            label = title[:50]
            participant = Participant.objects.filter(study=study, label=label).first() or participant_create(
                study=study, label=label, actor=actor)
        transcript = transcript_create(study=study, participant=participant, title=title, text=raw, created_by=actor)
        report.sources += 1
        mapping = _position_map(raw.lstrip("\ufeff") if raw.startswith("\ufeff") else raw, unit)
        for selection in _children(source, "PlainTextSelection"):
            _import_selection(selection, transcript, mapping, codes_by_guid, users, fallback_user, notes, report,
                              title)
        for ref in _children(source, "NoteRef"):
            note = notes.get((ref.get("targetGUID") or "").strip("{}").lower())
            if note:
                Memo.objects.create(study=study, transcript=transcript, title=note[0][:200], body=note[1],
                                    author=fallback_user)
    # Notes about a code (NoteRef inside a Code) and about the project (NoteRef at the top level).
    codebook_el = _child(root, "CodeBook")
    codes_el = _child(codebook_el, "Codes") if codebook_el is not None else None
    stack = list(_children(codes_el, "Code")) if codes_el is not None else []
    while stack:
        code_el = stack.pop()
        stack += _children(code_el, "Code")
        code = codes_by_guid.get((code_el.get("guid") or "").strip("{}").lower())
        for ref in _children(code_el, "NoteRef"):
            note = notes.get((ref.get("targetGUID") or "").strip("{}").lower())
            if note and code is not None:
                Memo.objects.create(study=study, code=code, title=note[0][:200], body=note[1], author=fallback_user)
    for ref in _children(root, "NoteRef"):
        note = notes.get((ref.get("targetGUID") or "").strip("{}").lower())
        if note:
            Memo.objects.create(study=study, title=note[0][:200], body=note[1], author=fallback_user)
    audit_record(study=study, actor=actor, action="import.qdpx", obj=study,
                 details={"origin": origin, "sources": report.sources, "codings": report.codings,
                          "unplaced": len(report.unplaced)})
    return report


def _import_selection(selection, transcript, mapping, codes_by_guid, users, fallback_user, notes, report,
                      title) -> None:
    from codebook.services import coding_apply

    try:
        start_raw, end_raw = int(selection.get("startPosition")), int(selection.get("endPosition"))
    except (TypeError, ValueError):
        report.unplaced.append(f"{title}: a selection without valid positions")
        return
    if not 0 <= start_raw < end_raw < len(mapping):
        report.unplaced.append(f"{title}: selection {start_raw}-{end_raw} lies outside the text")
        return
    start, end = mapping[start_raw], mapping[end_raw]
    if not 0 <= start < end <= len(transcript.text):
        report.unplaced.append(f"{title}: selection {start_raw}-{end_raw} cannot be placed")
        return
    for coding_el in _children(selection, "Coding"):
        ref = _child(coding_el, "CodeRef")
        code = codes_by_guid.get((ref.get("targetGUID") or "").strip("{}").lower()) if ref is not None else None
        if code is None:
            report.unplaced.append(f"{title}: a coding at {start_raw}-{end_raw} refers to an unknown code")
            continue
        user = None
        for candidate in (coding_el.get("creatingUser"), selection.get("creatingUser"),
                          selection.get("modifyingUser")):
            user = users.get((candidate or "").strip("{}").lower())
            if user is not None:
                break
        layer = Layer.CODER
        if user == CONSENSUS_USER:
            layer, user = Layer.CONSENSUS, fallback_user
        user = user or fallback_user
        if user is None:
            report.unplaced.append(f"{title}: a coding at {start_raw}-{end_raw} has no user")
            continue
        memo = "\n\n".join(notes[r][1] for r in ((n.get("targetGUID") or "").strip("{}").lower()
                                                 for n in _children(coding_el, "NoteRef")) if r in notes)
        if not code.codable:
            code.codable = True
            code.save(update_fields=["codable"])
        _, created = coding_apply(transcript=transcript, code=code, coder=user, start=start, end=end, layer=layer,
                                  memo=memo)
        report.codings += created
