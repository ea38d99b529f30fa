from django.urls import path

from marketplace.api import installs, reviews, views

app_name = "marketplace-api"

urlpatterns = [
    path("marketplace/integrations", views.IntegrationListView.as_view(), name="integration-list"),
    path("marketplace/integrations/<slug:slug>", views.IntegrationDetailView.as_view(), name="integration-detail"),
    path("marketplace/categories", views.CategoryListView.as_view(), name="category-list"),
    path("marketplace/partners/<str:public_id>", views.PartnerDetailView.as_view(), name="partner-detail"),
    path(
        "marketplace/integrations/<slug:slug>/reviews",
        reviews.IntegrationReviewListView.as_view(),
        name="integration-reviews",
    ),
    path("marketplace/reviews/<str:public_id>", reviews.ReviewDetailView.as_view(), name="review-detail"),
    path("marketplace/installations", installs.InstallationListView.as_view(), name="installation-list"),
    path(
        "marketplace/installations/<str:public_id>",
        installs.InstallationDetailView.as_view(),
        name="installation-detail",
    ),
]
