"""Codebook in and out: REFI-QDA ``.qdc`` and CSV. Services (keyword-only) over the pure ``codebook.refi``."""
from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from interviews.models import Study
from interviews.services import audit_record
from workbench.csvsafe import write_rows

from .models import Code, Coding
from .refi import QdcCode, QdcError, build_qdc, parse_qdc
from .restructure import lock_study
from .selectors import code_tree_for
from .services import PATH_SEPARATOR, _clean_code_name

PALETTE = ("#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c",
           "#4f46e5")
CSV_COLUMNS = ("id", "guid", "path", "name", "parent_id", "description", "when_to_use", "when_not_to_use", "example",
               "color", "codable", "codings", "transcripts", "participants")


def _qdc_tree(study: Study) -> list[QdcCode]:
    codes = list(Code.objects.filter(study=study).order_by("position", "name", "id"))
    nodes = {
        c.pk: QdcCode(guid=str(c.guid), name=c.name, codable=c.codable, color=c.color, description=c.description,
                      when_to_use=c.when_to_use, when_not_to_use=c.when_not_to_use, example=c.example)
        for c in codes
    }
    roots = []
    for c in codes:
        (nodes[c.parent_id].children if c.parent_id else roots).append(nodes[c.pk])
    return roots


def codebook_export_qdc(*, study: Study, actor: Any = None) -> bytes:
    roots = _qdc_tree(study)
    if not roots:
        raise ValidationError("The codebook is empty: there is nothing to export.")
    data = build_qdc(roots)
    audit_record(study=study, actor=actor, action="codebook.export", obj=study, details={"format": "qdc"})
    return data


def codebook_export_csv(*, study: Study, actor: Any = None) -> str:
    rows = [CSV_COLUMNS]
    for row in code_tree_for(study, Coding.objects.filter(transcript__study=study)):
        c = row.code
        rows.append((c.pk, str(c.guid), PATH_SEPARATOR.join(row.path), c.name, c.parent_id or "", c.description,
                     c.when_to_use, c.when_not_to_use, c.example, c.color, "yes" if c.codable else "no",
                     row.codings, row.transcripts, row.participants))
    audit_record(study=study, actor=actor, action="codebook.export", obj=study, details={"format": "csv"})
    return write_rows(rows)


def codebook_import_qdc(*, study: Study, data: bytes, actor: Any) -> dict[str, Any]:
    """Merge a ``.qdc`` into the study's codebook: a code is matched by GUID, then by its path (case-insensitive);
    unmatched codes are added with their GUID, colour, description and place in the hierarchy. Existing codes
    are not renamed, moved or redefined. All or nothing."""
    try:
        roots = parse_qdc(data)
    except QdcError as exc:
        raise ValidationError(str(exc)) from None
    report: dict[str, Any] = {"added": [], "matched_by_guid": 0, "matched_by_path": 0}
    with transaction.atomic():
        lock_study(study.pk)
        existing = list(Code.objects.filter(study=study))
        by_guid = {str(c.guid): c for c in existing}
        parents = {c.pk: c for c in existing}

        def path_of(code: Code) -> tuple[str, ...]:
            path, current = [], code
            while current is not None:
                path.append(current.name.casefold())
                current = parents.get(current.parent_id) if current.parent_id else None
            return tuple(reversed(path))

        by_path = {path_of(c): c for c in existing}
        counters = {"colour": 0}

        def walk(nodes: list[QdcCode], parent: Code | None, parent_path: tuple[str, ...]) -> None:
            for node in nodes:
                name = _clean_code_name(node.name)
                path = (*parent_path, name.casefold())
                code = by_guid.get(node.guid)
                if code is not None:
                    report["matched_by_guid"] += 1
                else:
                    code = by_path.get(path)
                    if code is not None:
                        report["matched_by_path"] += 1
                if code is None:
                    color = node.color or PALETTE[counters["colour"] % len(PALETTE)]
                    counters["colour"] += 1
                    code = Code.objects.create(
                        study=study, parent=parent, name=name, color=color, codable=node.codable,
                        guid=uuid.UUID(node.guid) if node.guid not in by_guid else uuid.uuid4(),
                        description=node.description, when_to_use=node.when_to_use,
                        when_not_to_use=node.when_not_to_use, example=node.example,
                        position=Code.objects.filter(study=study, parent=parent).count(),
                    )
                    by_guid[str(code.guid)] = code
                    by_path[path] = code
                    parents[code.pk] = code
                    report["added"].append(PATH_SEPARATOR.join(n for n in _display_path(code, parents)))
                walk(node.children, code, path)

        walk(roots, None, ())
        audit_record(study=study, actor=actor, action="codebook.import", obj=study,
                     details={"added": len(report["added"]), "matched_by_guid": report["matched_by_guid"],
                              "matched_by_path": report["matched_by_path"]})
    return report


def _display_path(code: Code, parents: dict[int, Code]) -> list[str]:
    path, current = [], code
    while current is not None:
        path.append(current.name)
        current = parents.get(current.parent_id) if current.parent_id else None
    return path[::-1]
