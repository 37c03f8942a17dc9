from __future__ import annotations

from django.contrib import admin

from .models import Code, Coding, Memo


@admin.register(Code)
class CodeAdmin(admin.ModelAdmin):
    list_display = ("name", "parent", "study", "color", "position")
    list_filter = ("study",)
    search_fields = ("name",)
    readonly_fields = ("guid",)


@admin.register(Coding)
class CodingAdmin(admin.ModelAdmin):
    list_display = ("code", "transcript", "coder", "layer", "start", "end")
    list_filter = ("layer", "transcript__study")
    raw_id_fields = ("transcript", "code", "coder")


@admin.register(Memo)
class MemoAdmin(admin.ModelAdmin):
    list_display = ("title", "study", "code", "transcript", "author", "updated_at")
    list_filter = ("study",)
    raw_id_fields = ("code", "transcript", "author")
