from __future__ import annotations

from django.contrib import admin

from .models import AnalysisRun


@admin.register(AnalysisRun)
class AnalysisRunAdmin(admin.ModelAdmin):
    list_display = ("id", "study", "kind", "status", "progress", "attempts", "created_at", "finished_at")
    list_filter = ("status", "kind")
    readonly_fields = ("result",)
