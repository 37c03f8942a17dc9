"""The audit log is append-only in the database itself: no row can be deleted, and no column can change except
the links to a study or user that were deleted (they become NULL; the names kept beside them stay)."""
from __future__ import annotations

from django.db import migrations

POSTGRES = """
CREATE OR REPLACE FUNCTION workbench_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit events cannot be deleted';
    END IF;
    IF (NEW.id, NEW.study_slug, NEW.actor_name, NEW.action, NEW.object_type, NEW.object_id, NEW.object_repr,
        NEW.details::text, NEW.created_at) IS DISTINCT FROM
       (OLD.id, OLD.study_slug, OLD.actor_name, OLD.action, OLD.object_type, OLD.object_id, OLD.object_repr,
        OLD.details::text, OLD.created_at)
       OR (NEW.study_id IS NOT NULL AND NEW.study_id IS DISTINCT FROM OLD.study_id)
       OR (NEW.actor_id IS NOT NULL AND NEW.actor_id IS DISTINCT FROM OLD.actor_id) THEN
        RAISE EXCEPTION 'audit events cannot be changed';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER workbench_audit_no_update BEFORE UPDATE OR DELETE ON interviews_auditevent
    FOR EACH ROW EXECUTE FUNCTION workbench_audit_append_only();
"""
POSTGRES_DROP = """
DROP TRIGGER IF EXISTS workbench_audit_no_update ON interviews_auditevent;
DROP FUNCTION IF EXISTS workbench_audit_append_only();
"""
SQLITE = [
    """CREATE TRIGGER workbench_audit_no_delete BEFORE DELETE ON interviews_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events cannot be deleted'); END;""",
    """CREATE TRIGGER workbench_audit_no_update BEFORE UPDATE ON interviews_auditevent
       WHEN NEW.id IS NOT OLD.id OR NEW.study_slug IS NOT OLD.study_slug OR NEW.actor_name IS NOT OLD.actor_name
         OR NEW.action IS NOT OLD.action OR NEW.object_type IS NOT OLD.object_type
         OR NEW.object_id IS NOT OLD.object_id OR NEW.object_repr IS NOT OLD.object_repr
         OR NEW.details IS NOT OLD.details OR NEW.created_at IS NOT OLD.created_at
         OR (NEW.study_id IS NOT NULL AND NEW.study_id IS NOT OLD.study_id)
         OR (NEW.actor_id IS NOT NULL AND NEW.actor_id IS NOT OLD.actor_id)
       BEGIN SELECT RAISE(ABORT, 'audit events cannot be changed'); END;""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS workbench_audit_no_delete;", "DROP TRIGGER IF EXISTS workbench_audit_no_update;"]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES)
    elif vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DROP)
    elif vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("interviews", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
