from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self):
        # Calls made with an install's tokens count on the Installation when the request
        # logs are flushed; apikeys sends the signal and never imports the marketplace.
        from apikeys.signals import grant_requests_flushed
        from marketplace.services.installs import on_grant_requests_flushed

        grant_requests_flushed.connect(on_grant_requests_flushed, dispatch_uid="marketplace-installation-calls")
