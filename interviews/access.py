"""Access checks: the one place that decides who may see and change what in a study.

Every view and endpoint calls ``access_study`` first. Non-members get 404 (a study's existence is not leaked),
members without the right get 403.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Membership, Role, Study, Transcript


@dataclass(frozen=True, slots=True)
class StudyAccess:
    study: Study
    membership: Membership

    @property
    def user(self):
        return self.membership.user

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def is_pi(self) -> bool:
        return self.role == Role.PI

    @property
    def can_code(self) -> bool:
        return self.role in (Role.PI, Role.CODER)

    @property
    def can_import(self) -> bool:
        """Import transcripts and see raw, not yet pseudonymised text: the PI and members made data stewards."""
        return self.is_pi or self.membership.data_steward

    @property
    def sees_all_layers(self) -> bool:
        """PI and viewers see every coder's layer; coders only when the study is not blind."""
        return self.role != Role.CODER or not self.study.blind_coding


def access_study(
    user, study: str | int, *, write: bool = False, manage: bool = False, steward: bool = False
) -> StudyAccess:
    """The caller's access to a study given by slug or id.

    ``write``: the caller must be able to code (PI or coder). ``manage``: the caller must be the study's PI.
    ``steward``: the caller must be the PI or a data steward (import, raw text).
    """
    if not getattr(user, "is_authenticated", False):
        raise Http404("No such study")
    lookup = {"study__pk": study} if isinstance(study, int) else {"study__slug": study}
    membership = (
        Membership.objects.select_related("study", "user").filter(user=user, **lookup).first()
    )
    if membership is None:
        raise Http404("No such study")
    access = StudyAccess(study=membership.study, membership=membership)
    if manage and not access.is_pi:
        raise PermissionDenied("Only the study's principal investigator can do this.")
    if steward and not access.can_import:
        raise PermissionDenied("Only the PI or a data steward of the study can import and see raw transcripts.")
    if write and not access.can_code:
        raise PermissionDenied("Viewers can read this study but not change it.")
    return access


def access_transcript(access: StudyAccess, transcript_id: int) -> Transcript:
    """A transcript of the accessed study, or 404 (ids of other studies are indistinguishable from missing ones)."""
    transcript = (
        Transcript.objects.select_related("participant").filter(study=access.study, pk=transcript_id).first()
    )
    if transcript is None:
        raise Http404("No such transcript in this study")
    return transcript
