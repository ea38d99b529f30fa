from django.urls import path

from apikeys.api import views

app_name = "apikeys-api"

urlpatterns = [
    path("keys", views.KeyListCreateView.as_view(), name="key-list"),
    path("keys/current", views.CurrentKeyView.as_view(), name="key-current"),
    path("keys/leaked", views.LeakReportView.as_view(), name="key-leaked"),
    path("keys/bulk", views.KeyBulkView.as_view(), name="key-bulk"),
    path("keys/<str:key_id>", views.KeyDetailView.as_view(), name="key-detail"),
    path("keys/<str:key_id>/rotate", views.KeyRotateView.as_view(), name="key-rotate"),
    path("keys/<str:key_id>/revoke", views.KeyRevokeView.as_view(), name="key-revoke"),
    path("oauth-applications", views.OAuthApplicationListCreateView.as_view(), name="oauth-application-list"),
    path(
        "oauth-applications/<str:app_id>", views.OAuthApplicationDetailView.as_view(), name="oauth-application-detail"
    ),
    path(
        "oauth-applications/<str:app_id>/rotate-secret",
        views.OAuthApplicationRotateSecretView.as_view(),
        name="oauth-application-rotate-secret",
    ),
]
