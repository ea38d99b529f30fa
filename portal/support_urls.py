from django.urls import path

from portal import support_views as views

app_name = "support"

urlpatterns = [
    path("", views.ticket_list, name="ticket_list"),
    path("new/", views.ticket_create, name="ticket_create"),
    path("staff/", views.staff_queue, name="staff_queue"),
    path("staff/<str:public_id>/", views.staff_ticket, name="staff_ticket"),
    path("staff/<str:public_id>/assign/", views.staff_assign, name="staff_assign"),
    path("staff/<str:public_id>/update/", views.staff_update, name="staff_update"),
    path("attachments/<str:public_id>/", views.attachment_download, name="attachment"),
    path("<str:public_id>/", views.ticket_detail, name="ticket_detail"),
    path("<str:public_id>/resolve/", views.ticket_resolve, name="ticket_resolve"),
    path("<str:public_id>/reopen/", views.ticket_reopen, name="ticket_reopen"),
]
