"""The stored full-text document of each integration (PostgreSQL only).

`Integration.search_vector` holds the weighted document that search matches against and
ranks with, so a search reads one GIN index instead of building a document per row from
four joined tables. It is rebuilt with one UPDATE whenever a listing is published or its
fields change; `manage.py marketplace_reindex` rebuilds all of them (a category or an
organisation renamed, a backfill). SQLite has no such column in use: it searches with
`icontains`.

The document mixes two text-search configurations on purpose. Name, tagline, category and
partner go in twice, as `simple` lexemes (unstemmed, so a prefix typed so far, `accounti`,
still finds "Accounting") and as `english` ones (stemmed, so "payments" finds "payment");
the longer description goes in as `english` only. Queries OR the two forms of each term.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

# setweight(..., 'A') name, 'B' tagline + category + partner, 'C' description; one UPDATE.
_UPDATE = """
    UPDATE marketplace_integration AS t SET search_vector =
        setweight(to_tsvector('english', i.name), 'A')
        || setweight(to_tsvector('simple', i.name), 'A')
        || setweight(to_tsvector('english', i.tagline || ' ' || c.name || ' ' || o.name), 'B')
        || setweight(to_tsvector('simple', i.tagline || ' ' || c.name || ' ' || o.name), 'B')
        || setweight(to_tsvector('english', i.description), 'C')
    FROM marketplace_integration AS i
    JOIN marketplace_category AS c ON c.id = i.category_id
    JOIN accounts_organization AS o ON o.id = i.organization_id
    WHERE t.id = i.id
"""


def integration_search_refresh(*, integration_ids: Iterable[int] | None) -> int:
    """Rebuild the search document of these integrations (None: of every integration).

    One UPDATE; returns the rows updated (always 0 on SQLite, which does not use it).
    """
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        if integration_ids is None:
            cursor.execute(_UPDATE)
        else:
            ids = list(integration_ids)
            if not ids:
                return 0
            cursor.execute(_UPDATE + " AND i.id = ANY(%s)", [ids])
        return cursor.rowcount
