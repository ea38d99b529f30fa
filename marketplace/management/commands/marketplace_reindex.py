"""Rebuild the stored search documents of the marketplace (PostgreSQL; a no-op on SQLite)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import connection

from marketplace import services


class Command(BaseCommand):
    help = "Rebuild Integration.search_vector for every integration, e.g. after renaming a category."

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            self.stdout.write("SQLite searches without a stored document; nothing to do.")
            return
        updated = services.integration_search_refresh(integration_ids=None)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE marketplace_integration")
        self.stdout.write(self.style.SUCCESS(f"Reindexed {updated} integration(s)."))
