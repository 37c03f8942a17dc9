from __future__ import annotations

from django.contrib import admin

from .models import Attribute, AttributeValue, AuditEvent, Membership, Participant, Study, Transcript


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "blind_coding", "created_at")
    search_fields = ("name", "slug")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "study", "role")
    list_filter = ("role", "study")
    raw_id_fields = ("user",)


@admin.register(Attribute)
class AttributeAdmin(admin.ModelAdmin):
    list_display = ("name", "study", "type", "position")
    list_filter = ("study", "type")


class AttributeValueInline(admin.TabularInline):
    model = AttributeValue
    extra = 0


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("label", "study")
    list_filter = ("study",)
    search_fields = ("label",)
    inlines = [AttributeValueInline]


@admin.register(AttributeValue)
class AttributeValueAdmin(admin.ModelAdmin):
    list_display = ("participant", "attribute", "value")
    list_filter = ("attribute__study",)


@admin.register(Transcript)
class TranscriptAdmin(admin.ModelAdmin):
    list_display = ("title", "study", "participant", "language", "created_at")
    list_filter = ("study", "language")
    search_fields = ("title",)
    readonly_fields = ("content_hash", "created_at", "updated_at")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log is append-only: nobody edits or deletes events here."""

    list_display = ("created_at", "actor_name", "action", "study_slug", "object_repr")
    list_filter = ("action",)
    search_fields = ("actor_name", "action", "object_repr", "study_slug")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
