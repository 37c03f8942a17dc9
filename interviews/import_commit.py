"""Storing a reviewed import batch (runs in a Celery task): one transaction per file, exactly once although
workers die (``workbench.jobs``), then the raw uploads are deleted. The staging and review steps are in
``interviews.imports``."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from workbench import jobs

from . import keystore
from .imports import _delete_raw, _read_json, _write_private, batch_entries, staging_dir
from .models import ImportBatch, ImportStatus, Participant, PseudonymKey, Transcript
from .pseudonymise import Entry, Matcher, Proposal, apply, leftovers
from .services import audit_record, content_hash, normalise_text, participant_create, transcript_create


def import_commit(*, batch_id: str) -> str:
    """Store the reviewed batch: one transaction per file (the file's transcript and its outcome together), then
    delete the raw uploads. Claimed through ``workbench.jobs``: a worker killed mid-batch leaves the files stored so
    far, and the redelivered task goes on with the rest, storing each file exactly once."""
    claimed = jobs.claim(ImportBatch, batch_id, queued=ImportStatus.QUEUED, running=ImportStatus.RUNNING,
                         failed=ImportStatus.FAILED)
    if claimed == jobs.BUSY:
        return jobs.BUSY
    if claimed == jobs.GAVE_UP:
        _delete_raw(ImportBatch.objects.get(pk=batch_id))
        return ImportStatus.FAILED
    if claimed != jobs.CLAIMED:
        return "skipped"
    batch = ImportBatch.objects.select_related("study", "created_by").get(pk=batch_id)
    try:
        with jobs.heartbeat(ImportBatch, batch_id, running=ImportStatus.RUNNING):
            status = _commit(batch)
    except jobs.TakenOver:
        return "skipped"
    except jobs.TRANSIENT:
        raise  # the database went away: the files stored so far stay, the task retries and goes on with the rest
    except Exception as exc:
        ImportBatch.objects.filter(pk=batch.pk).update(status=ImportStatus.FAILED,
                                                       error=f"The import stopped: {type(exc).__name__}.")
        _delete_raw(batch)
        raise
    return status


def _still_mine(batch: ImportBatch):
    return ImportBatch.objects.filter(pk=batch.pk, status=ImportStatus.RUNNING, attempts=batch.attempts)


def _commit(batch: ImportBatch) -> str:
    manifest = _read_json(batch, "manifest.json")
    decisions = _read_json(batch, "decisions.json")
    study, user = batch.study, batch.created_by
    base_entries = batch_entries(batch, manifest)
    # Accepted name suggestions join the list, so the same original gets the same pseudonym everywhere.
    raw_texts = {str(i["index"]): i.get("text", "") for i in manifest["items"]}
    learned = [
        Entry(raw_texts[index][start:end], pseudonym)
        for index, item in decisions["items"].items()
        for start, end, pseudonym, detector in item["accepted"]
        if detector == "name"
    ]
    entries = keystore.merge_entries(base_entries, learned)
    matcher = Matcher(entries)
    # Files an earlier, killed worker already finished have their outcome recorded: they are not done again.
    outcomes: list[dict[str, Any]] = list(batch.outcomes or [])
    finished = {o.get("index") for o in outcomes}
    items = manifest["items"]
    for n, item in enumerate(items, start=1):
        if item["index"] in finished:
            continue
        shown_name = apply(item["name"], leftovers(item["name"], matcher))
        decision = decisions["items"].get(str(item["index"]))
        with transaction.atomic():
            if item.get("error"):
                reason = apply(item["error"], leftovers(item["error"], matcher))
                outcome = {"name": shown_name, "status": "failed", "message": reason}
            elif decision is None:
                outcome = {"name": shown_name, "status": "skipped", "message": "not chosen for import"}
            else:
                outcome = _commit_item(study, user, item, decision, matcher, manifest["tags"], shown_name)
            outcomes.append({**outcome, "index": item["index"]})
            if not _still_mine(batch).update(progress=int(100 * n / len(items)), outcomes=outcomes):
                raise jobs.TakenOver

    with transaction.atomic():
        status = _finish(batch, decisions, entries, outcomes, len(items))
    _delete_raw(batch)
    return status


def _finish(batch: ImportBatch, decisions: dict[str, Any], entries: list[Entry], outcomes: list[dict[str, Any]],
            files: int) -> str:
    study, user, key_pending = batch.study, batch.created_by, False
    if decisions.get("keep_key"):
        ciphertext, count = keystore.encrypt_entries(entries)
        PseudonymKey.objects.update_or_create(study=study, defaults={"ciphertext": ciphertext, "entries": count,
                                                                     "updated_by": user})
        audit_record(study=study, actor=user, action="key.update", obj=study, details={"entries": count})
    elif entries:
        _write_private(staging_dir(batch) / "key.csv", keystore.entries_to_csv(entries))
        key_pending = True
    stored = sum(1 for o in outcomes if o["status"] == "stored")
    if not _still_mine(batch).update(status=ImportStatus.DONE, progress=100, outcomes=outcomes,
                                     key_download_pending=key_pending):
        raise jobs.TakenOver
    audit_record(study=study, actor=user, action="import.commit", obj=batch,
                 details={"files": files, "stored": stored, "key_kept": bool(decisions.get("keep_key"))})
    return ImportStatus.DONE


def _commit_item(study, user, item, decision, matcher, tags, shown_name) -> dict[str, Any]:
    proposals = [Proposal(s, e, item["text"][s:e], p, d) for s, e, p, d in decision["accepted"]]
    try:
        text = apply(item["text"], proposals)
    except ValueError:
        return {"name": shown_name, "status": "failed", "message": "overlapping replacements; review it again"}
    text = normalise_text(text)
    remaining = leftovers(text, matcher)
    title = apply(decision["title"], leftovers(decision["title"], matcher))
    label = apply(decision["participant"], leftovers(decision["participant"], matcher))[:50]
    if remaining:
        places = ", ".join(f"{p.start}-{p.end} (→ {p.pseudonym})" for p in remaining[:20])
        return {"name": shown_name, "status": "blocked",
                "message": f"still contains {len(remaining)} replacement-list original(s) at {places}; "
                           "nothing was stored"}
    duplicate = Transcript.objects.filter(study=study, content_hash=content_hash(text)).first()
    if duplicate is not None:
        return {"name": shown_name, "status": "skipped",
                "message": f"the same text is already in the study as “{duplicate.title}”",
                "transcript_id": duplicate.pk}
    try:
        with transaction.atomic():
            participant = Participant.objects.filter(study=study, label=label).first()
            if participant is None:
                participant = participant_create(study=study, label=label, actor=user)
            transcript = transcript_create(study=study, participant=participant, title=title, text=text,
                                           language=decision.get("language", ""), created_by=user, tags=tags)
    except ValidationError as exc:
        return {"name": shown_name, "status": "failed", "message": " ".join(exc.messages)}
    return {"name": shown_name, "status": "stored", "message": f"stored as “{title}” for {label}",
            "transcript_id": transcript.pk, "replacements": len(proposals)}
