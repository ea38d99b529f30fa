from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from portal import views

portal_patterns = (
    [
        path("", views.home, name="home"),
        path("dashboard/", views.dashboard, name="dashboard"),
    ],
    "portal",
)

urlpatterns = [
    path("", include(portal_patterns)),
    path("healthz", views.healthz, name="healthz"),
    path("problems/", views.problem_types, name="problem_types"),
    path("problems/<slug:slug>", views.problem_types, name="problem_type"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/", include("accounts.urls")),
    path("", include("apikeys.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/", include("apikeys.api.urls")),
    path("api/v1/", include("webhooks.api.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("sandbox/", include("payments_mock.urls")),
    path("api/v1/", include("payments_mock.api.urls")),
    path("marketplace/", include("marketplace.urls")),
    path("support/", include("portal.support_urls")),
    path("api/v1/", include("marketplace.api.urls")),
    path("", include("apikeys.oauth_views")),  # /oauth/authorize, token, revoke, introspect
]

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"
