from django.apps import AppConfig


class ApikeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys and the request path"

    def ready(self):
        from apikeys import schema  # noqa: F401  (registers the OpenAPI auth extension)
