from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoint_list, name="endpoint_list"),
    path("endpoints/new/", views.endpoint_create, name="endpoint_create"),
    path("endpoints/<str:public_id>/", views.endpoint_detail, name="endpoint_detail"),
    path("endpoints/<str:public_id>/edit/", views.endpoint_edit, name="endpoint_edit"),
    path("endpoints/<str:public_id>/toggle/", views.endpoint_toggle, name="endpoint_toggle"),
    path("endpoints/<str:public_id>/delete/", views.endpoint_delete, name="endpoint_delete"),
    path("endpoints/<str:public_id>/secret/", views.endpoint_secret, name="endpoint_secret"),
    path("endpoints/<str:public_id>/test/", views.endpoint_test, name="endpoint_test"),
    path("endpoints/<str:public_id>/recover/", views.endpoint_recover, name="endpoint_recover"),
    path("deliveries/<str:public_id>/", views.delivery_detail, name="delivery_detail"),
    path("deliveries/<str:public_id>/retry/", views.delivery_retry, name="delivery_retry"),
    path("events/", views.event_list, name="event_list"),
    path("events/<str:public_id>/", views.event_detail, name="event_detail"),
    path("receiver/", views.receiver_page, name="receiver"),
    path("receiver/clear/", views.receiver_clear, name="receiver_clear"),
    path("receiver/<str:token>/", views.receiver_inbox, name="receiver_inbox"),
    path("docs/", views.docs, name="docs"),
]
