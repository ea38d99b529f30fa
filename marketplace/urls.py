from django.urls import path

from marketplace.views import browse, partner

app_name = "marketplace"

urlpatterns = [
    path("", browse.home, name="home"),
    path("search/", browse.search, name="search"),
    path("categories/<slug:slug>/", browse.category, name="category"),
    path("integrations/<slug:slug>/", browse.detail, name="detail"),
    path("partner/integrations/", partner.my_integrations, name="mine"),
    path("partner/integrations/new/", partner.integration_create, name="create"),
    path("partner/integrations/<str:public_id>/", partner.integration_status, name="status"),
    path("partner/integrations/<str:public_id>/edit/", partner.integration_edit, name="edit"),
    path("partner/integrations/<str:public_id>/submit/", partner.integration_submit, name="submit"),
    path("partner/integrations/<str:public_id>/unpublish/", partner.integration_unpublish, name="unpublish"),
    path("review/", partner.review_queue, name="review_queue"),
    path("review/<str:public_id>/", partner.review, name="review"),
]
