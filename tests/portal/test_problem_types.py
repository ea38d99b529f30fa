"""Every problem `type` the code can emit has a page under /problems/ that explains it."""

import re
from pathlib import Path

import django.apps
from django.urls import get_resolver

from portal.problems import PROBLEM_TYPES

ROOT = Path(__file__).resolve().parents[2]
APPS = ["portal", "accounts", "apikeys", "webhooks", "marketplace", "payments_mock", "analytics"]
SLUG_KEYWORD = re.compile(r'slug\s*=\s*"([a-z0-9-]+)"')
SLUG_POSITIONAL = re.compile(r'_unauthenticated\(\s*(?:f?"[^"]*"|\w+)\s*,\s*"([a-z0-9-]+)"', re.S)


def _emitted_slugs() -> dict[str, str]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            text = path.read_text()
            for pattern in (SLUG_KEYWORD, SLUG_POSITIONAL):
                for slug in pattern.findall(text):
                    found.setdefault(slug, str(path.relative_to(ROOT)))
    return found


def test_every_emitted_problem_type_is_documented():
    django.apps.apps.check_apps_ready()
    get_resolver().url_patterns  # noqa: B018 - imports every view module, which register their types
    emitted = _emitted_slugs()
    assert len(emitted) > 5  # the scan itself works
    undocumented = {slug: where for slug, where in emitted.items() if slug not in PROBLEM_TYPES}
    assert undocumented == {}
