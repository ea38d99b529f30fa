from django.apps import AppConfig


class PaymentsMockConfig(AppConfig):
    name = "payments_mock"
    verbose_name = "Sandbox financial APIs"
    default_auto_field = "django.db.models.BigAutoField"
