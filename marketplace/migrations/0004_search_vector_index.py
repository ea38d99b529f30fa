"""PostgreSQL only: a GIN index over the stored full-text document (SQLite searches without it)."""

from django.db import migrations


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS integration_search_gin ON marketplace_integration USING gin (search_vector)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS integration_search_gin")


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0003_marketplace_installs")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
