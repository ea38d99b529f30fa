from django.urls import path

from accounts.views import auth, organization

app_name = "accounts"

# Sign-up, sign-in, e-mail verification, passwords, second factor, account settings.
auth_patterns = [
    path("signup/", auth.signup, name="signup"),
    path("login/", auth.login_view, name="login"),
    path("login/2fa/", auth.login_second_factor, name="login_2fa"),
    path("login/2fa/email/", auth.login_send_email_code, name="login_email_code"),
    path("logout/", auth.logout_view, name="logout"),
    path("verify-email/", auth.verify_email_sent, name="verify_email_sent"),
    path("verify-email/resend/", auth.verify_email_resend, name="verify_email_resend"),
    path("verify-email/<str:token>/", auth.verify_email, name="verify_email"),
    path("password-reset/", auth.password_reset, name="password_reset"),
    path("password-reset/sent/", auth.password_reset_done, name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", auth.password_reset_confirm, name="password_reset_confirm"),
    path("password-reset/complete/", auth.password_reset_complete, name="password_reset_complete"),
    path("settings/", auth.account_settings, name="settings"),
    path("settings/password/", auth.password_change, name="password_change"),
    path("settings/2fa/", auth.totp_enrol, name="totp_enrol"),
    path("settings/2fa/disable/", auth.totp_disable, name="totp_disable"),
    path("settings/2fa/recovery-codes/", auth.recovery_codes_regenerate, name="recovery_codes"),
    path("settings/sessions/<str:public_id>/end/", auth.session_end, name="session_end"),
]

# Organisations, members, invitations, roles, policy, partner profile, audit log.
organization_patterns = [
    path("organizations/new/", organization.organization_create, name="organization_create"),
    path("organizations/switch/", organization.organization_switch, name="organization_switch"),
    path("organization/", organization.organization_settings, name="organization_settings"),
    path("organization/security/", organization.security_policy, name="security_policy"),
    path("organization/members/", organization.members, name="members"),
    path("organization/members/<str:public_id>/", organization.member_update, name="member_update"),
    path("organization/members/<str:public_id>/remove/", organization.member_remove, name="member_remove"),
    path("organization/leave/", organization.organization_leave, name="organization_leave"),
    path("organization/transfer/", organization.ownership_transfer, name="ownership_transfer"),
    path("organization/invitations/<str:public_id>/revoke/", organization.invitation_revoke, name="invitation_revoke"),
    path("invitations/<str:token>/", organization.invitation_accept, name="invitation_accept"),
    path("organization/roles/", organization.roles, name="roles"),
    path("organization/roles/new/", organization.role_create, name="role_create"),
    path("organization/roles/<str:public_id>/", organization.role_edit, name="role_edit"),
    path("organization/roles/<str:public_id>/delete/", organization.role_delete, name="role_delete"),
    path("partner/", organization.partner_profile, name="partner_profile"),
    path("organization/audit-log/", organization.audit_log, name="audit_log"),
]

urlpatterns = auth_patterns + organization_patterns
