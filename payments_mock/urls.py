from django.urls import path

from payments_mock import views

app_name = "sandbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("payments/", views.payment_list, name="payments"),
    path("payments/<str:public_id>/", views.payment_detail, name="payment_detail"),
    path("customers/", views.customer_list, name="customers"),
    path("customers/<str:public_id>/", views.customer_detail, name="customer_detail"),
    path("subscriptions/", views.subscription_list, name="subscriptions"),
    path("subscriptions/<str:public_id>/", views.subscription_detail, name="subscription_detail"),
    path("transactions/", views.transaction_list, name="transactions"),
    path("transactions/<str:public_id>/", views.transaction_detail, name="transaction_detail"),
    path("test-cards/", views.test_cards, name="test_cards"),
    path("reset/", views.reset, name="reset"),
    path("sample-data/", views.generate, name="generate"),
]
