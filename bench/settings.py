"""Settings for the HTTP benchmark only: the portal's own, plus the peer stack and the bench views.

`bench/http_hot_path.py` points gunicorn and its own process at this module, with
DATABASE_URL and REDIS_URL on a dedicated benchmark database; nothing else uses it.
"""

import os

# Measured as deployed: no query log, no debug pages (read by portal.settings at import).
os.environ.setdefault("DJANGO_DEBUG", "false")

from portal.settings import *  # noqa: E402, F403
from portal.settings import INSTALLED_APPS  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework_api_key", "bench"]
ROOT_URLCONF = "bench.urls"
