"""Portal pages for credentials: API keys, key templates, the naming policy, OAuth
applications and penalty blocks. Objects are addressed by their public ids."""

from django.urls import path

from apikeys import views

app_name = "apikeys"

urlpatterns = [
    path("keys/", views.key_list, name="key_list"),
    path("keys/new/", views.key_create, name="key_create"),
    path("keys/bulk/", views.key_bulk, name="key_bulk"),
    path("keys/templates/", views.template_list, name="template_list"),
    path("keys/templates/new/", views.template_create, name="template_create"),
    path("keys/templates/<str:public_id>/", views.template_edit, name="template_edit"),
    path("keys/templates/<str:public_id>/delete/", views.template_delete, name="template_delete"),
    path("keys/naming-policy/", views.naming_policy, name="naming_policy"),
    path("keys/blocked/", views.block_list, name="block_list"),
    path("keys/<str:public_id>/", views.key_detail, name="key_detail"),
    path("keys/<str:public_id>/rotate/", views.key_rotate, name="key_rotate"),
    path("keys/<str:public_id>/revoke/", views.key_revoke, name="key_revoke"),
    path("oauth-apps/", views.oauth_app_list, name="oauth_app_list"),
    path("oauth-apps/new/", views.oauth_app_create, name="oauth_app_create"),
    path("oauth-apps/<str:public_id>/", views.oauth_app_detail, name="oauth_app_detail"),
    path("oauth-apps/<str:public_id>/rotate-secret/", views.oauth_app_rotate, name="oauth_app_rotate"),
    path("oauth-apps/<str:public_id>/delete/", views.oauth_app_delete, name="oauth_app_delete"),
]
