"""Errors raised by services and turned into HTTP statuses by views.

Bad input raises ``django.core.exceptions.ValidationError`` (400); a missing right raises ``PermissionDenied``
(403); an object outside the caller's study raises ``Http404``. The classes here cover the rest.
"""
from __future__ import annotations


class Conflict(Exception):
    """The request is valid but contradicts the current state (409): stale offsets, locked text, a lost race."""


class QueueUnavailable(Exception):
    """The task queue (Redis) cannot be reached, so background work cannot start (503). Nothing was lost: the
    request left its data as it was before, and asking again later works."""
