"""campaigns_mark_sent(): recording a send in one statement on PostgreSQL.

A sending worker records every message as it leaves; as one function call the tenant
setting, the update and the commit cost one round trip. It runs as the caller (SECURITY
INVOKER), so row-level security applies as to any query. The commit does not wait for the
WAL flush (synchronous_commit off for this transaction only): the claim before the send was
committed durably, so only a database crash in that instant could lose the record, and the
message would then be resent with the same Message-ID."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION campaigns_mark_sent(p_tenant integer, p_ids bigint[],
                                               p_at timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE changed integer;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    PERFORM set_config('synchronous_commit', 'off', true);
    UPDATE campaigns_recipient
       SET status = 'sent', sent_at = p_at, error = '', retry_at = NULL
     WHERE tenant_id = p_tenant AND id = ANY(p_ids) AND status = 'sending';
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END $$
"""
DROP = "DROP FUNCTION IF EXISTS campaigns_mark_sent(integer, bigint[], timestamptz)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0004_beat_schedule")]

    operations = [migrations.RunPython(create, drop)]
