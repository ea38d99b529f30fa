from django.urls import path

from marketplace.views import listings as views

app_name = "marketplace"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("categories/<slug:slug>/", views.category, name="category"),
    path("integrations/<slug:slug>/", views.detail, name="detail"),
    path("partner/integrations/", views.my_integrations, name="mine"),
    path("partner/integrations/new/", views.integration_create, name="create"),
    path("partner/integrations/<str:public_id>/", views.integration_status, name="status"),
    path("partner/integrations/<str:public_id>/edit/", views.integration_edit, name="edit"),
    path("partner/integrations/<str:public_id>/submit/", views.integration_submit, name="submit"),
    path("partner/integrations/<str:public_id>/unpublish/", views.integration_unpublish, name="unpublish"),
    path("review/", views.review_queue, name="review_queue"),
    path("review/<str:public_id>/", views.review, name="review"),
]
