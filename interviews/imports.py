"""Importing transcripts: stage the raw files outside the database, review the proposed replacements, store only
the pseudonymised text. Services (keyword-only, ``import_<action>``) and the staging store they share.

The raw uploads live in ``IMPORT_STAGING_DIR/<batch id>/`` (files readable by the server user only) from upload
to confirmation, and are deleted then, on discard, or when the batch expires. Celery messages carry the batch id
only. Before a transcript is stored its pseudonymised text is scanned again for every replacement-list original; a
file with leftovers is blocked and the places are listed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from workbench import jobs
from workbench.errors import Conflict, QueueUnavailable

from . import keystore
from .models import ImportBatch, ImportStatus, Study
from .pseudonymise import Entry, Matcher, Proposal, propose
from .readers import ARCHIVE, Limits, ReadError, expand_archive, extension, read_document, safe_name
from .services import audit_record

PARTICIPANT_IN_NAME = re.compile(r"(?<![A-Za-z0-9])([Pp]\d{1,4})(?![0-9])")
CJK_CHAR = re.compile(r"[\u4e00-\u9fff]")


def limits() -> Limits:
    return Limits(
        max_file_bytes=settings.IMPORT_MAX_FILE_MB * 1024 * 1024,
        max_archive_entries=settings.IMPORT_MAX_ARCHIVE_FILES,
    )


# --- the staging store ----------------------------------------------------------------------------------------
def staging_dir(batch: ImportBatch) -> Path:
    return Path(settings.IMPORT_STAGING_DIR) / str(batch.id)


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content)


def _read_json(batch: ImportBatch, name: str) -> dict[str, Any]:
    path = staging_dir(batch) / name
    if not path.exists():
        raise Conflict("The uploaded files of this import are no longer here (it was stored, discarded or expired).")
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(batch: ImportBatch, name: str, data: dict[str, Any]) -> None:
    _write_private(staging_dir(batch) / name, json.dumps(data, ensure_ascii=False))


def _delete_raw(batch: ImportBatch) -> None:
    directory = staging_dir(batch)
    for name in ("manifest.json", "decisions.json"):
        (directory / name).unlink(missing_ok=True)
    if not (directory / "key.csv").exists():
        shutil.rmtree(directory, ignore_errors=True)


def _entries_json(entries: list[Entry]) -> list[dict[str, Any]]:
    return [{"original": e.original, "pseudonym": e.pseudonym, "aliases": list(e.aliases)} for e in entries]


def _entries_from_json(rows: list[dict[str, Any]]) -> list[Entry]:
    return [Entry(r["original"], r["pseudonym"], tuple(r.get("aliases", ()))) for r in rows]


# --- staging --------------------------------------------------------------------------------------------------
def _default_label(name: str) -> str:
    match = PARTICIPANT_IN_NAME.search(name)
    return match.group(1).upper() if match else ""


def _stem(name: str) -> str:
    return os.path.splitext(name)[0].replace("_", " ").strip()[:200] or "Transcript"


def _guess_language(text: str) -> str:
    sample = text[:20000]
    letters = sum(1 for ch in sample if ch.isalpha())
    return "zh" if letters and len(CJK_CHAR.findall(sample)) / letters > 0.3 else ""


def import_stage(
    *,
    study: Study,
    user: Any,
    uploads: list[tuple[str, bytes]] = (),
    pasted: list[tuple[str, str]] = (),
    replacements: list[Entry] = (),
    tags: list[str] = (),
    language: str = "",
) -> ImportBatch:
    """Read every upload (expanding .zip archives) into the staging store. A file that cannot be read is kept as
    an item with its reason; the others go on. Nothing reaches the database but the batch's status row."""
    imports_cleanup()
    items: list[dict[str, Any]] = []
    lim = limits()

    def add_item(raw_name: str, data: bytes | None = None, text: str | None = None) -> None:
        item: dict[str, Any] = {"index": len(items), "name": raw_name, "format": "", "encoding": None, "notes": [],
                                "error": "", "text": "", "participant": "", "title": ""}
        items.append(item)
        try:
            name = safe_name(raw_name)
            item["name"] = name
            if text is not None:
                result_text, fmt, encoding, notes = text.replace("\r\n", "\n").replace("\r", "\n"), "paste", None, []
                if not result_text.strip():
                    raise ReadError("is empty")
            else:
                result = read_document(name, data or b"", lim)
                result_text, fmt, encoding, notes = result.text, result.format, result.encoding, result.notes
            if "\x00" in result_text:
                raise ReadError("contains NUL characters")
        except ReadError as exc:
            item["error"] = f"{item['name']} {exc}."
            return
        item.update(format=fmt, encoding=encoding, notes=notes, text=result_text,
                    participant=_default_label(name), title=_stem(name),
                    language=(language or _guess_language(result_text)))

    for raw_name, data in uploads:
        if extension(raw_name) == ARCHIVE:
            try:
                files, skipped = expand_archive(data, lim)
            except ReadError as exc:
                items.append({"index": len(items), "name": raw_name, "error": f"{raw_name} {exc}.", "text": ""})
                continue
            for inner_name, reason in skipped:
                items.append({"index": len(items), "name": inner_name, "error": f"{inner_name} {reason}.",
                              "text": ""})
            for inner_name, inner_data in files:
                add_item(inner_name, inner_data)
        else:
            add_item(raw_name, data)
    for title, text in pasted:
        add_item((title or "Pasted text").strip() + ".txt", text=text)
    if not items:
        raise ValidationError("Choose at least one file, or paste a transcript.")

    batch = ImportBatch.objects.create(
        study=study, created_by=user, files=len(items),
        expires_at=timezone.now() + timedelta(hours=settings.IMPORT_STAGING_HOURS),
    )
    directory = staging_dir(batch)
    directory.mkdir(parents=True, mode=0o700)
    _write_json(batch, "manifest.json", {
        "items": items, "entries": _entries_json(list(replacements)),
        "tags": [t.strip() for t in tags if t.strip()],
    })
    audit_record(study=study, actor=user, action="import.stage", obj=batch,
                 details={"files": len(items), "unreadable": sum(1 for i in items if i.get("error"))})
    return batch


# --- review ---------------------------------------------------------------------------------------------------
@dataclass
class ItemReview:
    index: int
    name: str
    format: str = ""
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)
    error: str = ""
    participant: str = ""
    title: str = ""
    language: str = ""
    text: str = ""
    proposals: list[Proposal] = field(default_factory=list)
    fingerprint: str = ""

    def runs(self) -> list[tuple[str, int | None]]:
        """The raw text cut at the proposals: (text, proposal index or None)."""
        out: list[tuple[str, int | None]] = []
        position = 0
        for j, p in enumerate(self.proposals):
            if p.start > position:
                out.append((self.text[position : p.start], None))
            out.append((self.text[p.start : p.end], j))
            position = p.end
        if position < len(self.text):
            out.append((self.text[position:], None))
        return out


def batch_entries(batch: ImportBatch, manifest: dict[str, Any] | None = None) -> list[Entry]:
    """The study's kept list, then this batch's uploaded or added entries."""
    manifest = manifest or _read_json(batch, "manifest.json")
    return keystore.merge_entries(keystore.stored_entries(batch.study), _entries_from_json(manifest["entries"]))


def _fingerprint(proposals: list[Proposal]) -> str:
    raw = json.dumps([(p.start, p.end, p.pseudonym, p.detector) for p in proposals])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def import_review(*, batch: ImportBatch) -> list[ItemReview]:
    manifest = _read_json(batch, "manifest.json")
    matcher = Matcher(batch_entries(batch, manifest))
    reviews = []
    for item in manifest["items"]:
        review = ItemReview(index=item["index"], name=item["name"], error=item.get("error", ""))
        if not review.error:
            review.format, review.encoding, review.notes = item["format"], item["encoding"], item["notes"]
            review.participant, review.title = item["participant"], item["title"]
            review.language, review.text = item.get("language", ""), item["text"]
            review.proposals = propose(review.text, matcher)
            review.fingerprint = _fingerprint(review.proposals)
        reviews.append(review)
    return reviews


def import_add_entry(*, batch: ImportBatch, user: Any, original: str, pseudonym: str) -> None:
    """Add an original → pseudonym pair to this batch's list (from the review screen)."""
    _require_staged(batch)
    original = " ".join((original or "").split())
    pseudonym = (pseudonym or "").strip()
    if not original or not pseudonym:
        raise ValidationError("Give both the text to replace and its pseudonym.")
    if len(original) > 200 or len(pseudonym) > 100:
        raise ValidationError("The text to replace has at most 200 characters, a pseudonym at most 100.")
    manifest = _read_json(batch, "manifest.json")
    manifest["entries"] = _entries_json(
        keystore.merge_entries(_entries_from_json(manifest["entries"]), [Entry(original, pseudonym)])
    )
    _write_json(batch, "manifest.json", manifest)


def _require_staged(batch: ImportBatch) -> None:
    if batch.status != ImportStatus.STAGED:
        raise Conflict(f"This import is {batch.get_status_display().lower()}; it can no longer be changed.")


@dataclass
class ItemDecision:
    participant: str
    title: str
    fingerprint: str
    # proposal index -> pseudonym, for the accepted proposals
    accepted: dict[int, str]


def import_decide(
    *, batch: ImportBatch, user: Any, decisions: dict[int, ItemDecision], keep_key: bool
) -> ImportBatch:
    """Record the reviewer's decisions and queue the import. Refused (409) if the proposals changed meanwhile."""
    from .tasks import import_commit_task

    _require_staged(batch)
    if keep_key and not keystore.key_storage_available():
        raise ValidationError("Keeping the key needs PSEUDONYM_KEY to be configured on the server.")
    reviews = {r.index: r for r in import_review(batch=batch)}
    chosen: dict[str, Any] = {}
    errors: list[str] = []
    for index, decision in decisions.items():
        review = reviews.get(index)
        if review is None or review.error:
            continue
        if decision.fingerprint != review.fingerprint:
            raise Conflict("The proposed replacements changed since the page was loaded; reload and review again.")
        label = decision.participant.strip()
        if not label or len(label) > 50:
            errors.append(f"{review.name}: give a participant label (at most 50 characters, e.g. P07).")
        title = decision.title.strip()
        if not title or len(title) > 200:
            errors.append(f"{review.name}: give a title of 1 to 200 characters.")
        accepted = []
        for j, pseudonym in decision.accepted.items():
            if not 0 <= j < len(review.proposals):
                raise ValidationError(f"{review.name}: unknown replacement {j}.")
            pseudonym = pseudonym.strip()
            if not pseudonym or len(pseudonym) > 100:
                errors.append(f"{review.name}: each pseudonym needs 1 to 100 characters.")
                continue
            p = review.proposals[j]
            accepted.append([p.start, p.end, pseudonym, p.detector])
        chosen[str(index)] = {"participant": label, "title": title, "accepted": accepted,
                              "language": review.language}
    if errors:
        raise ValidationError(errors)
    if not chosen:
        raise ValidationError("None of the files can be imported.")
    _write_json(batch, "decisions.json", {"items": chosen, "keep_key": keep_key})
    with transaction.atomic():
        updated = ImportBatch.objects.filter(pk=batch.pk, status=ImportStatus.STAGED).update(
            status=ImportStatus.QUEUED
        )
        if not updated:
            raise Conflict("This import was already confirmed.")
        transaction.on_commit(lambda: _enqueue_commit(import_commit_task, str(batch.pk)))
    batch.refresh_from_db()
    if batch.status == ImportStatus.STAGED:
        raise QueueUnavailable(QUEUE_UNAVAILABLE)
    return batch


QUEUE_UNAVAILABLE = ("The import service is unavailable (task queue unreachable). Your review is kept: confirm it "
                     "again in a few minutes.")


def _enqueue_commit(task: Any, batch_id: str) -> None:
    if not jobs.enqueue(task, batch_id):  # the broker is unreachable: the batch goes back to its review
        ImportBatch.objects.filter(pk=batch_id, status=ImportStatus.QUEUED).update(status=ImportStatus.STAGED)


def decisions_accept_all(reviews: list[ItemReview]) -> dict[int, ItemDecision]:
    """Accept every proposal except name suggestions (which a person must confirm): the CLI's --accept."""
    return {
        r.index: ItemDecision(
            participant=r.participant or r.title[:50], title=r.title, fingerprint=r.fingerprint,
            accepted={j: p.pseudonym for j, p in enumerate(r.proposals) if not p.suggestion},
        )
        for r in reviews if not r.error
    }


# --- after the import -----------------------------------------------------------------------------------------
def import_discard(*, batch: ImportBatch, user: Any) -> None:
    _require_staged(batch)
    ImportBatch.objects.filter(pk=batch.pk).update(status=ImportStatus.DISCARDED)
    shutil.rmtree(staging_dir(batch), ignore_errors=True)
    audit_record(study=batch.study, actor=user, action="import.discard", obj=batch, details={"files": batch.files})


def import_key_download(*, batch: ImportBatch, user: Any) -> str:
    """The key file of an import whose key was not kept: handed out once, then deleted."""
    path = staging_dir(batch) / "key.csv"
    if not batch.key_download_pending or not path.exists():
        raise Conflict("The key of this import was already downloaded or has expired; it is not kept.")
    content = path.read_text(encoding="utf-8")
    shutil.rmtree(staging_dir(batch), ignore_errors=True)
    ImportBatch.objects.filter(pk=batch.pk).update(key_download_pending=False)
    audit_record(study=batch.study, actor=user, action="key.download", obj=batch, details={})
    return content


def imports_cleanup() -> int:
    """Delete the staging folders of batches past their expiry; returns how many batches expired."""
    now = timezone.now()
    expired = 0
    for batch in ImportBatch.objects.filter(expires_at__lt=now).exclude(status=ImportStatus.EXPIRED):
        if batch.status in (ImportStatus.STAGED, ImportStatus.QUEUED):
            ImportBatch.objects.filter(pk=batch.pk).update(status=ImportStatus.EXPIRED)
            expired += 1
        if batch.key_download_pending:
            ImportBatch.objects.filter(pk=batch.pk).update(key_download_pending=False)
        shutil.rmtree(staging_dir(batch), ignore_errors=True)
    return expired
