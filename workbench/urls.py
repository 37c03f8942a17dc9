from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from analysis import agreement_views, export_views
from analysis import views as analysis_views
from codebook import api as codebook_api
from codebook import views as codebook_views
from interviews import audit_views, import_views
from interviews import views as interview_views

urlpatterns = [
    path("", interview_views.study_list, name="study_list"),
    path("healthz/", interview_views.healthz, name="healthz"),
    path("accounts/login/", interview_views.ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("studies/<slug:slug>/", interview_views.study_home, name="study_home"),
    path("studies/<slug:slug>/members/", interview_views.members, name="members"),
    path("studies/<slug:slug>/audit/", audit_views.audit_log, name="audit_log"),
    path("studies/<slug:slug>/transcripts/<int:pk>/", interview_views.transcript_view, name="transcript"),
    path("studies/<slug:slug>/participants/", import_views.participants, name="participants"),
    path("studies/<slug:slug>/participants/<int:pk>/", import_views.participant_edit, name="participant_edit"),
    path("studies/<slug:slug>/import/", import_views.import_upload, name="import_upload"),
    path("studies/<slug:slug>/key/", import_views.pseudonym_key, name="pseudonym_key"),
    path("studies/<slug:slug>/import/<uuid:batch_id>/", import_views.import_review, name="import_review"),
    path("studies/<slug:slug>/import/<uuid:batch_id>/status/", import_views.import_status, name="import_status"),
    path("studies/<slug:slug>/import/<uuid:batch_id>/key/", import_views.import_key_download, name="import_key"),
    path("studies/<slug:slug>/codebook/", codebook_views.codebook, name="codebook"),
    path("studies/<slug:slug>/codebook/export/", codebook_views.codebook_export, name="codebook_export"),
    path("studies/<slug:slug>/codebook/history/", codebook_views.codebook_history, name="codebook_history"),
    path("studies/<slug:slug>/codes/<int:pk>/", codebook_views.code_detail, name="code_detail"),
    path("studies/<slug:slug>/codes/<int:pk>/action/", codebook_views.code_action, name="code_action"),
    path("studies/<slug:slug>/analysis/", analysis_views.analysis_home, name="analysis_home"),
    path("studies/<slug:slug>/analysis/runs/<int:pk>/", analysis_views.run_detail, name="run_detail"),
    path("studies/<slug:slug>/analysis/runs/<int:pk>/download/", analysis_views.run_download, name="run_download"),
    path("studies/<slug:slug>/analysis/runs/<int:pk>/cell/", analysis_views.run_cell, name="run_cell"),
    path("studies/<slug:slug>/search/", interview_views.search, name="search"),
    path("api/studies/<slug:slug>/transcripts/<int:pk>/codings/", codebook_api.transcript_codings_api,
         name="api_transcript_codings"),
    path("api/studies/<slug:slug>/transcripts/<int:pk>/progress/", codebook_api.progress_api, name="api_progress"),
    path("api/studies/<slug:slug>/codings/<int:pk>/", codebook_api.coding_api, name="api_coding"),
    path("api/studies/<slug:slug>/codes/", codebook_api.code_create_api, name="api_codes"),
    path("api/me/settings/", codebook_api.settings_api, name="api_settings"),
    path("studies/<slug:slug>/agreement/", agreement_views.agreement_home, name="agreement_home"),
    path("studies/<slug:slug>/agreement/<int:pk>/", agreement_views.agreement_run, name="agreement_run"),
    path("studies/<slug:slug>/agreement/<int:pk>/download/", agreement_views.agreement_download,
         name="agreement_download"),
    path("studies/<slug:slug>/agreement/<int:pk>/codes/<int:code_id>/", agreement_views.disagreements,
         name="disagreements"),
    path("studies/<slug:slug>/agreement/<int:pk>/codes/<int:code_id>/decide/", agreement_views.consensus_decision,
         name="consensus_decision"),
    path("studies/<slug:slug>/export/", export_views.export_page, name="export"),
    path("import-project/", export_views.project_import, name="project_import"),
    path("import-project/<uuid:pk>/", export_views.project_import_status, name="project_import_status"),
    path("admin/", admin.site.urls),
]
