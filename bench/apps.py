from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed only by bench.settings: the peer stack's request log lives here."""

    name = "bench"
    default_auto_field = "django.db.models.BigAutoField"
