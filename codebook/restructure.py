"""Reshaping the codebook without losing a coding: update, reorder, move, merge, split, delete.

Every operation runs in one transaction that first locks the study row, so two PIs editing the codebook at once
are serialised and never leave it inconsistent. Every operation writes an audit event with what it changed
(``details["codes"]`` lists the codes involved, so each code's history can be read back).
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from interviews.models import Study
from interviews.services import audit_record, study_touch

from . import tree, undo
from .models import Code, Coding, Layer, Memo
from .services import COLOR_RE, _clean_code_name

DEFINITION_FIELDS = ("description", "when_to_use", "when_not_to_use", "example")


def lock_study(study_id: int) -> Study:
    """Serialise codebook operations of one study (PostgreSQL row lock; SQLite writes are serial anyway), and
    mark its data as changed for the analysis cache (the operation's transaction commits both or neither)."""
    study = Study.objects.select_for_update().get(pk=study_id)
    study_touch(study_id)
    return study


def _parents(study_id: int) -> dict[int, int | None]:
    return dict(Code.objects.filter(study_id=study_id).values_list("id", "parent_id"))


def code_path(code: Code) -> list[str]:
    path, current = [], code
    while current is not None:
        path.append(current.name)
        current = current.parent
    return path[::-1]


def _check_sibling_name(study_id: int, parent_id: int | None, name: str, exclude: int | None = None) -> None:
    clash = Code.objects.filter(study_id=study_id, parent_id=parent_id, name__iexact=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise ValidationError(f"There is already a code called {name!r} at that level.")


def _renumber(study_id: int, parent_id: int | None, order: list[int] | None = None) -> None:
    siblings = order or list(
        Code.objects.filter(study_id=study_id, parent_id=parent_id).order_by("position", "name", "id")
        .values_list("id", flat=True)
    )
    for position, code_id in enumerate(siblings):
        Code.objects.filter(pk=code_id).exclude(position=position).update(position=position)


def _fresh(code: Code) -> Code:
    """Re-read the code inside the locked transaction (it may have changed or gone)."""
    found = Code.objects.select_related("parent").filter(pk=code.pk).first()
    if found is None:
        raise ValidationError("That code no longer exists (someone else changed the codebook); reload the page.")
    return found


# --- simple edits ---------------------------------------------------------------------------------------------
def code_update(*, code: Code, actor: Any, **changes: Any) -> Code:
    """Rename, recolour, re-define or (un)mark as codable. Records before/after of every changed field."""
    allowed = {"name", "color", "codable", "shortcut", *DEFINITION_FIELDS}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        lock_study(code.study_id)
        code = _fresh(code)
        snapshot = undo.capture(code.study_id)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for field, value in changes.items():
            if value is None:
                continue
            if field == "name":
                value = _clean_code_name(value)
                if value != code.name:
                    _check_sibling_name(code.study_id, code.parent_id, value, exclude=code.pk)
            elif field == "color":
                if not COLOR_RE.match(value or ""):
                    raise ValidationError(f"{value!r} is not a colour of the form #rrggbb.")
                value = value.lower()
            elif field == "codable":
                value = bool(value)
            elif field == "shortcut":
                value = int(value) if str(value).strip() not in ("", "0") else None
                if value is not None and not 1 <= value <= 9:
                    raise ValidationError("A shortcut is a digit from 1 to 9.")
                if value is not None and Code.objects.filter(study_id=code.study_id, shortcut=value).exclude(
                        pk=code.pk).exists():
                    raise ValidationError(f"The key {value} is already pinned to another code.")
            else:
                value = str(value).strip()
                if len(value) > 20000:
                    raise ValidationError("A definition field can have at most 20,000 characters.")
            if getattr(code, field) != value:
                before[field], after[field] = getattr(code, field), value
                setattr(code, field, value)
        if after:
            code.save(update_fields=list(after))
            audit_record(study=code.study, actor=actor, action="code.update", obj=code,
                         details={"codes": [code.pk], "before": before, "after": after})
            undo.remember(study=code.study, action="code.update", actor=actor, before=snapshot,
                          label=f"changing “{before.get('name', code.name)}” ({', '.join(sorted(after))})")
        return code


def code_reorder(*, code: Code, position: int, actor: Any) -> Code:
    """Put a code at ``position`` (0-based) among its siblings."""
    with transaction.atomic():
        lock_study(code.study_id)
        code = _fresh(code)
        snapshot = undo.capture(code.study_id)
        siblings = [c for c in Code.objects.filter(study_id=code.study_id, parent_id=code.parent_id)
                    .order_by("position", "name", "id").values_list("id", flat=True) if c != code.pk]
        position = max(0, min(int(position), len(siblings)))
        old = code.position
        siblings.insert(position, code.pk)
        _renumber(code.study_id, code.parent_id, siblings)
        audit_record(study=code.study, actor=actor, action="code.reorder", obj=code,
                     details={"codes": [code.pk], "before": {"position": old}, "after": {"position": position}})
        undo.remember(study=code.study, action="code.reorder", actor=actor, before=snapshot,
                      label=f"reordering “{code.name}”")
        return _fresh(code)


def code_move(*, code: Code, parent: Code | None, actor: Any) -> Code:
    """Move a code with its subtree under ``parent`` (or to the top). Refuses cycles and name clashes."""
    with transaction.atomic():
        lock_study(code.study_id)
        code = _fresh(code)
        parent = _fresh(parent) if parent is not None else None
        if parent is not None and parent.study_id != code.study_id:
            raise ValidationError("The new parent belongs to another study.")
        new_parent_id = parent.pk if parent else None
        if new_parent_id == code.parent_id:
            return code
        if tree.would_cycle(_parents(code.study_id), code.pk, new_parent_id):
            raise ValidationError(f"{code.name!r} cannot go under {parent.name!r}: that code is inside it.")
        _check_sibling_name(code.study_id, new_parent_id, code.name, exclude=code.pk)
        snapshot = undo.capture(code.study_id)
        old_parent_id, old_path = code.parent_id, code_path(code)
        code.parent = parent
        code.position = Code.objects.filter(study_id=code.study_id, parent_id=new_parent_id).count()
        code.save(update_fields=["parent", "position"])
        _renumber(code.study_id, old_parent_id)
        audit_record(study=code.study, actor=actor, action="code.move", obj=code,
                     details={"codes": [code.pk], "before": {"parent": old_parent_id, "path": old_path},
                              "after": {"parent": new_parent_id, "path": code_path(code)}})
        undo.remember(study=code.study, action="code.move", actor=actor, before=snapshot,
                      label=f"moving “{code.name}”")
        return code


# --- moving codings between codes -----------------------------------------------------------------------------
def _fold_key(c: Coding) -> tuple:
    return (c.transcript_id, c.layer, None if c.layer == Layer.CONSENSUS else c.coder_id, c.start, c.end)


def _join_memos(a: str, b: str) -> str:
    a, b = a.strip(), b.strip()
    if not b or b == a:
        return a
    return f"{a}\n\n{b}" if a else b


def _move_codings(codings: list[Coding], target: Code) -> tuple[int, int]:
    """Re-point codings to ``target``. One identical to a coding ``target`` already has (same transcript, layer,
    coder, start and end) is folded into it: the memos are joined and the duplicate removed. Returns
    ``(moved, folded)``."""
    if not codings:
        return 0, 0
    transcripts = {c.transcript_id for c in codings}
    existing = {_fold_key(c): c for c in Coding.objects.filter(code=target, transcript_id__in=transcripts)}
    move_ids: list[int] = []
    folded = 0
    for coding in codings:
        key = _fold_key(coding)
        keeper = existing.get(key)
        if keeper is None:
            move_ids.append(coding.pk)
            existing[key] = coding
            continue
        if keeper.pk in move_ids:
            # Two moving codings collide with each other: keep the first, fold the second into it.
            keeper.memo = _join_memos(keeper.memo, coding.memo)
            Coding.objects.filter(pk=keeper.pk).update(memo=keeper.memo)
        else:
            keeper.memo = _join_memos(keeper.memo, coding.memo)
            Coding.objects.filter(pk=keeper.pk).update(memo=keeper.memo, version=F("version") + 1)
        coding.delete()
        folded += 1
    # Moving rows one by one avoids a transient unique-constraint clash between them.
    for coding_id in move_ids:
        Coding.objects.filter(pk=coding_id).update(code=target, version=F("version") + 1)
    return len(move_ids), folded


def code_merge_preview(*, source: Code, target: Code) -> dict[str, int]:
    transcripts = Coding.objects.filter(code=source).values("transcript_id")
    target_keys = {_fold_key(c) for c in Coding.objects.filter(code=target, transcript_id__in=transcripts)}
    source_codings = list(Coding.objects.filter(code=source))
    duplicates = sum(1 for c in source_codings if _fold_key(c) in target_keys)
    return {"codings": len(source_codings), "duplicates": duplicates, "children": source.children.count(),
            "subtree_codings": Coding.objects.filter(
                code_id__in=[source.pk, *tree.descendants(_parents(source.study_id), source.pk)]).count()}


def _merge(source: Code, target: Code) -> dict[str, int]:
    moved, folded = _move_codings(list(Coding.objects.filter(code=source)), target)
    totals = {"moved": moved, "folded": folded, "children_moved": 0, "children_merged": 0}
    Memo.objects.filter(code=source).update(code=target)
    for child in list(source.children.all()):
        twin = Code.objects.filter(parent=target, name__iexact=child.name).exclude(pk=child.pk).first()
        if twin is not None:
            sub = _merge(child, twin)
            totals["moved"] += sub["moved"]
            totals["folded"] += sub["folded"]
            totals["children_merged"] += 1
        else:
            child.parent = target
            child.position = Code.objects.filter(parent=target).count()
            child.save(update_fields=["parent", "position"])
            totals["children_moved"] += 1
    source.delete()
    return totals


def code_merge(*, source: Code, target: Code, actor: Any) -> dict[str, int]:
    """Merge ``source`` into ``target``: its codings become target's (identical ones folded, memos joined), its
    children move under target (a child named like one of target's children is merged into it), source goes."""
    with transaction.atomic():
        lock_study(source.study_id)
        source, target = _fresh(source), _fresh(target)
        if source.study_id != target.study_id:
            raise ValidationError("Both codes must belong to the same study.")
        if source.pk == target.pk:
            raise ValidationError("A code cannot be merged into itself.")
        if tree.would_cycle(_parents(source.study_id), source.pk, target.pk):
            raise ValidationError(f"{source.name!r} cannot be merged into {target.name!r}, which is inside it.")
        before = {"source": code_path(source), "target": code_path(target), "source_id": source.pk}
        parents = _parents(source.study_id)
        snapshot = undo.capture(source.study_id, {source.pk, target.pk, *tree.descendants(parents, source.pk),
                                                  *tree.descendants(parents, target.pk)})
        parent_id, study = source.parent_id, source.study
        totals = _merge(source, target)
        _renumber(study.pk, parent_id)
        audit_record(study=study, actor=actor, action="code.merge", obj=target,
                     details={"codes": [before["source_id"], target.pk], "before": before, "after": totals})
        undo.remember(study=study, action="code.merge", actor=actor, before=snapshot,
                      label=f"merging “{before['source'][-1]}” into “{target.name}”")
        return totals


def code_split(
    *, code: Code, coding_ids: list[int], actor: Any, target: Code | None = None, new_name: str = ""
) -> tuple[Code, dict[str, int]]:
    """Move some of a code's codings to an existing code or to a new sibling code named ``new_name``."""
    from .services import code_create

    with transaction.atomic():
        lock_study(code.study_id)
        code = _fresh(code)
        ids = {int(i) for i in coding_ids}
        if not ids:
            raise ValidationError("Choose at least one coding to move.")
        codings = list(Coding.objects.filter(code=code, pk__in=ids))
        if len(codings) != len(ids):
            raise ValidationError("Some of the chosen codings are not codings of this code (reload the page).")
        snapshot = undo.capture(code.study_id, {code.pk, *([target.pk] if target is not None else [])})
        if target is None:
            if not new_name.strip():
                raise ValidationError("Choose a code to move the codings to, or name a new one.")
            target = code_create(study=code.study, name=new_name, parent=code.parent, color=code.color,
                                 actor=actor)
        else:
            target = _fresh(target)
            if target.study_id != code.study_id:
                raise ValidationError("The target code belongs to another study.")
            if target.pk == code.pk:
                raise ValidationError("Choose a different code to move the codings to.")
        moved, folded = _move_codings(codings, target)
        result = {"moved": moved, "folded": folded}
        audit_record(study=code.study, actor=actor, action="code.split", obj=code,
                     details={"codes": [code.pk, target.pk], "before": {"code": code_path(code)},
                              "after": {"target": code_path(target), **result}})
        undo.remember(study=code.study, action="code.split", actor=actor, before=snapshot,
                      label=f"moving {moved + folded} coding(s) from “{code.name}” to “{target.name}”")
        return target, result


def code_delete_preview(*, code: Code) -> dict[str, int]:
    below = tree.descendants(_parents(code.study_id), code.pk)
    return {"codings": Coding.objects.filter(code=code).count(), "children": code.children.count(),
            "descendants": len(below), "subtree_codings": Coding.objects.filter(code_id__in=[code.pk, *below]).count()}


def code_delete(*, code: Code, mode: str, actor: Any) -> dict[str, int]:
    """Delete a code. ``mode="delete"``: the code, its sub-codes and all their codings go.
    ``mode="move_to_parent"``: its codings (folded) and its children move to its parent, then it goes."""
    if mode not in ("delete", "move_to_parent"):
        raise ValidationError("Choose whether to delete the codings and sub-codes or move them to the parent.")
    with transaction.atomic():
        lock_study(code.study_id)
        code = _fresh(code)
        study, path = code.study, code_path(code)
        snapshot = undo.capture(study.pk, {code.pk, *tree.descendants(_parents(study.pk), code.pk),
                                           *([code.parent_id] if code.parent_id else [])})
        if mode == "move_to_parent":
            parent = code.parent
            if parent is None:
                raise ValidationError(f"{code.name!r} is a top-level code: there is no parent to move things to.")
            totals = _merge(code, parent)
            _renumber(study.pk, parent.pk)
            details = {"mode": mode, **totals}
        else:
            below = tree.descendants(_parents(study.pk), code.pk)
            doomed = [code.pk, *below]
            names = dict(Code.objects.filter(pk__in=doomed).values_list("id", "name"))
            deleted_codings, _ = Coding.objects.filter(code_id__in=doomed).delete()
            for code_id in reversed(doomed):  # children before parents
                Code.objects.filter(pk=code_id).delete()
            _renumber(study.pk, code.parent_id)
            details = {"mode": mode, "codings_deleted": deleted_codings, "codes_deleted": sorted(names.values())}
        audit_record(study=study, actor=actor, action="code.delete", obj=code,
                     details={"codes": [code.pk], "before": {"path": path}, "after": details})
        undo.remember(study=study, action="code.delete", actor=actor, before=snapshot,
                      label=f"deleting “{path[-1]}”")
        return details

