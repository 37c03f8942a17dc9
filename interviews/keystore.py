"""The study's pseudonymisation key: encrypted with a key from the environment, readable by the PI only.

Every read through ``key_entries(..., reason=...)`` by a person is audited; the import machinery reads it without
an audit event of its own (the import itself is audited).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError

from .models import PseudonymKey, Study
from .pseudonymise import Entry


def key_storage_available() -> bool:
    return bool(settings.PSEUDONYM_KEY)


def _fernet() -> Fernet:
    if not settings.PSEUDONYM_KEY:
        raise ImproperlyConfigured("PSEUDONYM_KEY is not set: pseudonymisation keys cannot be stored")
    try:
        return Fernet(settings.PSEUDONYM_KEY.encode())
    except ValueError:
        raise ImproperlyConfigured("PSEUDONYM_KEY must be 32 url-safe base64-encoded bytes (a Fernet key)") from None


def encrypt_entries(entries: Iterable[Entry]) -> tuple[str, int]:
    rows = [{"original": e.original, "pseudonym": e.pseudonym, "aliases": list(e.aliases)} for e in entries]
    return _fernet().encrypt(json.dumps(rows, ensure_ascii=False).encode("utf-8")).decode("ascii"), len(rows)


def decrypt_entries(ciphertext: str) -> list[Entry]:
    try:
        rows = json.loads(_fernet().decrypt(ciphertext.encode("ascii")))
    except InvalidToken:
        raise ImproperlyConfigured(
            "The stored pseudonymisation key cannot be decrypted with this PSEUDONYM_KEY (was it changed?)"
        ) from None
    return [Entry(r["original"], r["pseudonym"], tuple(r.get("aliases", ()))) for r in rows]


def stored_entries(study: Study) -> list[Entry]:
    """The study's kept replacement list, or [] when none is kept. For the import machinery."""
    key = PseudonymKey.objects.filter(study=study).first()
    return decrypt_entries(key.ciphertext) if key else []


def key_entries_for_person(*, study: Study, user: Any, reason: str) -> list[Entry]:
    """The kept list for a person to read (the PI): every such read is written to the audit log."""
    from .services import audit_record

    entries = stored_entries(study)
    audit_record(study=study, actor=user, action="key.view", obj=study,
                 details={"reason": reason, "entries": len(entries)})
    return entries


def key_delete(*, study: Study, user: Any) -> None:
    from .services import audit_record

    deleted, _ = PseudonymKey.objects.filter(study=study).delete()
    if deleted:
        audit_record(study=study, actor=user, action="key.delete", obj=study, details={})


def merge_entries(existing: Iterable[Entry], added: Iterable[Entry]) -> list[Entry]:
    """Existing entries keep their pseudonyms; a new original (case-insensitive) is appended."""
    merged: dict[str, Entry] = {}
    for entry in [*existing, *added]:
        key = " ".join(entry.original.split()).casefold()
        if key not in merged:
            merged[key] = entry
        else:
            old = merged[key]
            aliases = tuple(dict.fromkeys([*old.aliases, *entry.aliases]))
            merged[key] = Entry(old.original, old.pseudonym, aliases)
    return list(merged.values())


def entries_to_csv(entries: Iterable[Entry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(["original", "pseudonym", "aliases"])
    for e in entries:
        writer.writerow([e.original, e.pseudonym, "; ".join(e.aliases)])
    return out.getvalue()


def entries_from_csv(data: bytes) -> list[Entry]:
    """Read a key file with the columns ``original,pseudonym`` (and optionally ``aliases``, separated by ';')."""
    from .readers import ReadError, decode_text

    try:
        text, _ = decode_text(data)
    except ReadError as exc:
        raise ValidationError(f"The replacement list {exc}.") from None
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "original" not in fields or "pseudonym" not in fields:
        raise ValidationError("The replacement list needs the columns original,pseudonym.")
    reader.fieldnames = fields
    entries: list[Entry] = []
    errors: list[str] = []
    for number, row in enumerate(reader, start=2):
        original = " ".join((row.get("original") or "").split())
        pseudonym = (row.get("pseudonym") or "").strip()
        if not original and not pseudonym:
            continue
        if not original or not pseudonym:
            errors.append(f"row {number}: both original and pseudonym are needed")
            continue
        if len(pseudonym) > 100:
            errors.append(f"row {number}: the pseudonym is longer than 100 characters")
            continue
        aliases = tuple(a.strip() for a in (row.get("aliases") or "").split(";") if a.strip())
        entries.append(Entry(original, pseudonym, aliases))
    if errors:
        raise ValidationError(errors)
    return merge_entries([], entries)
