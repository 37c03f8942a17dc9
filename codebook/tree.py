"""Pure helpers over a code tree given as ``{code_id: parent_id}``. No Django."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping


def children_map(parents: Mapping[int, int | None]) -> dict[int | None, list[int]]:
    children: dict[int | None, list[int]] = defaultdict(list)
    for code_id, parent_id in parents.items():
        children[parent_id].append(code_id)
    return children


def descendants(parents: Mapping[int, int | None], root: int) -> list[int]:
    """Every code below ``root`` (not ``root`` itself), parents before children."""
    children = children_map(parents)
    out: list[int] = []
    stack = list(reversed(children.get(root, [])))
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(children.get(current, [])))
    return out


def would_cycle(parents: Mapping[int, int | None], code: int, new_parent: int | None) -> bool:
    """Would putting ``code`` under ``new_parent`` make a cycle (the new parent is the code or below it)?"""
    current = new_parent
    seen: set[int] = set()
    while current is not None:
        if current == code or current in seen:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def depth_of(parents: Mapping[int, int | None], code: int) -> int:
    depth, current = 0, parents.get(code)
    while current is not None:
        depth += 1
        current = parents.get(current)
    return depth


def is_acyclic(parents: Mapping[int, int | None]) -> bool:
    return not any(would_cycle(parents, code, parent) for code, parent in parents.items() if parent is not None)
