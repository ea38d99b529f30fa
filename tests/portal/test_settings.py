"""Start-up behaviour of the settings module, checked in fresh interpreter processes."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal import env

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, extra_env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))}
    clean.update({"PORTAL_VAR_DIR": str(tmp_path), **extra_env})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def _production_env() -> dict[str, str]:
    return {
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "portal.example.com",
        "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "APIKEY_PEPPERS": "v1:" + secrets.token_urlsafe(40),
    }


def test_check_deploy_passes_with_no_warnings_in_production(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", extra_env=_production_env(), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "FIELD_ENCRYPTION_KEYS", "APIKEY_PEPPERS"]
)
def test_production_refuses_to_start_without_a_required_setting(tmp_path, missing):
    settings_env = _production_env()
    del settings_env[missing]
    result = _manage("check", extra_env=settings_env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_production_refuses_a_short_secret_key(tmp_path):
    result = _manage("check", extra_env={**_production_env(), "DJANGO_SECRET_KEY": "short"}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "at least 50" in result.stderr


def test_development_generates_and_keeps_a_secret_key(tmp_path):
    assert _manage("check", extra_env={}, tmp_path=tmp_path).returncode == 0
    first = (tmp_path / "secret_key").read_text()
    assert _manage("check", extra_env={}, tmp_path=tmp_path).returncode == 0
    assert (tmp_path / "secret_key").read_text() == first
    assert len(first) >= 50


def test_nonsense_values_are_rejected_with_the_variable_named(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "perhaps")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG must be a boolean"):
        env.env_bool("SOME_FLAG")
    monkeypatch.setenv("SOME_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="SOME_NUMBER must be an integer"):
        env.env_int("SOME_NUMBER", 1)
    monkeypatch.setenv("SOME_URL", "ftp://example.com")
    with pytest.raises(ImproperlyConfigured, match="SOME_URL must be a URL"):
        env.env_url("SOME_URL", schemes={"postgres"})
    monkeypatch.setenv("DJANGO_ENV", "staging")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_ENV must be one of"):
        env.env_choice("DJANGO_ENV", "development", choices={"development", "production"})


def test_an_embedded_profile_uses_sqlite_with_wal_and_immediate_transactions(tmp_path):
    code = (
        "import django, json; django.setup(); from django.conf import settings; from django.db import connection;"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); "
        "print(json.dumps([settings.DATABASES['default']['ENGINE'], c.fetchone()[0], "
        "settings.DATABASES['default']['OPTIONS']['transaction_mode'], settings.CELERY_BROKER_URL, "
        "settings.CACHES['default']['BACKEND']]))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))}
    clean.update({"PORTAL_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "portal.settings"})
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        '["django.db.backends.sqlite3", "wal", "IMMEDIATE", "filesystem://", '
        '"django.core.cache.backends.locmem.LocMemCache"]'
    )


def test_the_services_profile_uses_postgres_and_redis_with_persistent_checked_connections(tmp_path):
    code = (
        "import django, json; django.setup(); from django.conf import settings; d = settings.DATABASES['default'];"
        "print(json.dumps([d['ENGINE'], d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'], settings.CELERY_BROKER_URL,"
        " settings.CACHES['default']['BACKEND']]))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))}
    clean.update(
        {
            "PORTAL_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/portal",
            "REDIS_URL": "redis://127.0.0.1:6379/3",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        '["django.db.backends.postgresql", 600, true, "redis://127.0.0.1:6379/3", '
        '"django.core.cache.backends.redis.RedisCache"]'
    )


@pytest.mark.postgres
def test_the_psycopg_pool_option_serves_queries_from_a_pool(tmp_path):
    from django.conf import settings

    code = (
        "import django, json; django.setup(); from django.db import connection;"
        "c = connection.cursor(); c.execute('SELECT 1'); "
        "print(json.dumps([c.fetchone()[0], connection.pool is not None, connection.pool.max_size]))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))}
    db = settings.DATABASES["default"]
    clean.update(
        {
            "PORTAL_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/postgres",
            "DATABASE_POOL": "true",
            "DATABASE_POOL_MAX_SIZE": "3",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[1, true, 3]"
