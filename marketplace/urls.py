from django.urls import path

from marketplace.views import browse, installs, media, partner, revenue, reviews

app_name = "marketplace"

urlpatterns = [
    path("", browse.home, name="home"),
    path("search/", browse.search, name="search"),
    path("categories/<slug:slug>/", browse.category, name="category"),
    path("integrations/<slug:slug>/", browse.detail, name="detail"),
    path("partners/<str:public_id>/", browse.partner_profile, name="partner_profile"),
    path("partner/integrations/", partner.my_integrations, name="mine"),
    path("partner/integrations/new/", partner.integration_create, name="create"),
    path("partner/integrations/<str:public_id>/", partner.integration_status, name="status"),
    path("partner/integrations/<str:public_id>/edit/", partner.integration_edit, name="edit"),
    path("partner/integrations/<str:public_id>/submit/", partner.integration_submit, name="submit"),
    path("partner/integrations/<str:public_id>/unpublish/", partner.integration_unpublish, name="unpublish"),
    path("partner/integrations/<str:public_id>/images/", partner.integration_image_add, name="image_add"),
    path(
        "partner/integrations/<str:public_id>/images/<str:image_id>/remove/",
        partner.integration_image_remove,
        name="image_remove",
    ),
    path(
        "partner/integrations/<str:public_id>/images/<str:image_id>/move/",
        partner.integration_image_move,
        name="image_move",
    ),
    path("media/<str:public_id>", media.image, name="image"),
    path("integrations/<slug:slug>/review/", reviews.review_write, name="review_write"),
    path("reviews/<str:public_id>/reply/", reviews.review_reply, name="review_reply"),
    path("reviews/<str:public_id>/hide/", reviews.review_moderate, name="review_moderate"),
    path("install/authorize", installs.install_authorize, name="install_authorize"),
    path("installed/", installs.installed, name="installed"),
    path("installed/<str:public_id>/uninstall/", installs.uninstall, name="uninstall"),
    path("partner/installs/", installs.partner_installs, name="partner_installs"),
    path("partner/", revenue.partner_dashboard, name="partner_dashboard"),
    path("partner/payouts/settings/", revenue.payout_settings, name="payout_settings"),
    path("statements/", revenue.statements, name="statements"),
    path("statements/<str:public_id>/<str:fmt>/", revenue.statement_download, name="statement_download"),
    path("staff/revenue/", revenue.staff_revenue, name="staff_revenue"),
    path("review/", partner.review_queue, name="review_queue"),
    path("review/<str:public_id>/", partner.review, name="review"),
]
