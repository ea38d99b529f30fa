from django.urls import path

from webhooks.api import views

app_name = "webhooks-api"

urlpatterns = [
    path("event-types", views.EventTypeListView.as_view(), name="event-type-list"),
    path("webhook-endpoints", views.EndpointListCreateView.as_view(), name="endpoint-list"),
    path("webhook-endpoints/<str:endpoint_id>", views.EndpointDetailView.as_view(), name="endpoint-detail"),
    path("webhook-endpoints/<str:endpoint_id>/enable", views.EndpointEnableView.as_view(), name="endpoint-enable"),
    path("webhook-endpoints/<str:endpoint_id>/disable", views.EndpointDisableView.as_view(), name="endpoint-disable"),
    path("webhook-endpoints/<str:endpoint_id>/secret", views.EndpointSecretView.as_view(), name="endpoint-secret"),
    path(
        "webhook-endpoints/<str:endpoint_id>/rotate-secret",
        views.EndpointRotateSecretView.as_view(),
        name="endpoint-rotate-secret",
    ),
    path("webhook-endpoints/<str:endpoint_id>/test", views.EndpointTestView.as_view(), name="endpoint-test"),
    path("webhook-endpoints/<str:endpoint_id>/recover", views.EndpointRecoverView.as_view(), name="endpoint-recover"),
    path("events", views.EventListView.as_view(), name="event-list"),
    path("events/<str:event_id>", views.EventDetailView.as_view(), name="event-detail"),
    path("events/<str:event_id>/resend", views.EventResendView.as_view(), name="event-resend"),
    path("webhook-deliveries", views.DeliveryListView.as_view(), name="delivery-list"),
    path("webhook-deliveries/<str:delivery_id>", views.DeliveryDetailView.as_view(), name="delivery-detail"),
    path("webhook-deliveries/<str:delivery_id>/retry", views.DeliveryRetryView.as_view(), name="delivery-retry"),
    path("webhook-deliveries/<str:delivery_id>/attempts", views.AttemptListView.as_view(), name="attempt-list"),
    path(
        "webhook-deliveries/<str:delivery_id>/attempts/<str:attempt_id>",
        views.AttemptDetailView.as_view(),
        name="attempt-detail",
    ),
]
