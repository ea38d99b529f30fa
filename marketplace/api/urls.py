from django.urls import path

from marketplace.api import views

app_name = "marketplace-api"

urlpatterns = [
    path("marketplace/integrations", views.IntegrationListView.as_view(), name="integration-list"),
    path("marketplace/integrations/<slug:slug>", views.IntegrationDetailView.as_view(), name="integration-detail"),
]
