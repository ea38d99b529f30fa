"""The permission catalogue: every fine-grained permission a portal role can hold.

Data, not database rows: built-in roles map to sets of these codes, custom roles
store a list of them, and later the credentials' scopes come from the same names.
Each app's permissions sit in their own group; add new ones here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    code: str
    group: str
    description: str


CATALOGUE: tuple[Permission, ...] = (
    # Organisation
    Permission("org:read", "Organisation", "See the organisation's profile and settings"),
    Permission("org:update", "Organisation", "Edit the organisation's name and profile"),
    Permission("org:security", "Organisation", "Change security policies such as required 2FA"),
    Permission("org:delete", "Organisation", "Delete the organisation"),
    Permission("members:read", "Members", "See the members and their roles"),
    Permission("members:invite", "Members", "Invite new members"),
    Permission("members:manage", "Members", "Change members' roles and remove members"),
    Permission("roles:manage", "Members", "Create, edit and delete custom roles"),
    Permission("audit:read", "Audit", "Read the organisation's audit log"),
    Permission("billing:read", "Billing", "See plan, invoices and statements"),
    Permission("billing:manage", "Billing", "Change the plan and billing details"),
    # Partner programme
    Permission("partner:read", "Partner", "See the partner profile and verification status"),
    Permission("partner:manage", "Partner", "Edit the partner profile and submit it for verification"),
    Permission("payouts:read", "Partner", "See revenue, statements and payouts"),
    Permission("payouts:manage", "Partner", "Edit payout details"),
    # Credentials
    Permission("keys:read", "API keys", "See API keys (never their secrets)"),
    Permission("keys:create", "API keys", "Create API keys"),
    Permission("keys:manage", "API keys", "Rename, rotate, change and revoke API keys"),
    Permission("keys:live", "API keys", "Create and manage live-mode keys"),
    Permission("key_templates:manage", "API keys", "Manage key templates and the naming policy"),
    Permission("oauth_apps:read", "OAuth", "See OAuth applications"),
    Permission("oauth_apps:manage", "OAuth", "Create, edit and rotate OAuth applications"),
    Permission("ip_blocks:manage", "API keys", "See and lift blocked IP addresses"),
    # Sandbox APIs (also key and token scopes)
    Permission("customers:read", "Sandbox", "Read customers"),
    Permission("customers:write", "Sandbox", "Create, update and delete customers"),
    Permission("payments:read", "Sandbox", "Read payments"),
    Permission("payments:write", "Sandbox", "Create, capture and cancel payments"),
    Permission("refunds:read", "Sandbox", "Read refunds"),
    Permission("refunds:write", "Sandbox", "Create refunds"),
    Permission("fx:read", "Sandbox", "Read FX rates and quotes"),
    Permission("fx:write", "Sandbox", "Create and lock FX quotes and conversions"),
    Permission("credit:read", "Sandbox", "Score applicants"),
    Permission("bank_accounts:read", "Sandbox", "Read bank accounts"),
    Permission("bank_accounts:write", "Sandbox", "Add and verify bank accounts"),
    Permission("subscriptions:read", "Sandbox", "Read products, prices, subscriptions and invoices"),
    Permission("subscriptions:write", "Sandbox", "Manage products, prices and subscriptions"),
    Permission("transactions:read", "Sandbox", "Search and export transactions"),
    Permission("reports:read", "Sandbox", "Read reports"),
    Permission("sandbox:reset", "Sandbox", "Reset the sandbox and generate sample data"),
    # Webhooks
    Permission("webhooks:read", "Webhooks", "See endpoints, events and deliveries"),
    Permission("webhooks:manage", "Webhooks", "Create and change endpoints, retry and replay deliveries"),
    Permission("webhooks:secrets", "Webhooks", "Reveal and rotate signing secrets"),
    # Marketplace
    Permission("integrations:read", "Marketplace", "See the organisation's integrations and drafts"),
    Permission("integrations:manage", "Marketplace", "Create, edit and submit integrations"),
    Permission("installs:read", "Marketplace", "See installed integrations"),
    Permission("installs:manage", "Marketplace", "Install and uninstall integrations"),
    Permission("reviews:write", "Marketplace", "Write and reply to reviews"),
    # Analytics and support
    Permission("analytics:read", "Analytics", "See usage dashboards and request logs"),
    Permission("analytics:export", "Analytics", "Export request logs and reports"),
    Permission("support:read", "Support", "Read the organisation's support tickets"),
    Permission("support:write", "Support", "Open and answer support tickets"),
)

BY_CODE: dict[str, Permission] = {p.code: p for p in CATALOGUE}
ALL_CODES: frozenset[str] = frozenset(BY_CODE)

_READ_ONLY = frozenset(code for code in ALL_CODES if code.endswith(":read")) - {"audit:read"}
_DEVELOPER = _READ_ONLY | {
    "keys:create",
    "keys:manage",
    "oauth_apps:manage",
    "customers:write",
    "payments:write",
    "refunds:write",
    "fx:write",
    "bank_accounts:write",
    "subscriptions:write",
    "sandbox:reset",
    "webhooks:manage",
    "webhooks:secrets",
    "integrations:manage",
    "installs:manage",
    "reviews:write",
    "analytics:export",
    "support:write",
}
_ADMIN = ALL_CODES - {"org:delete", "billing:manage"}

BUILTIN_ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": ALL_CODES,
    "admin": _ADMIN,
    "developer": _DEVELOPER,
    "read_only": _READ_ONLY,
}


def grouped() -> dict[str, list[Permission]]:
    """The catalogue by group, in declaration order, for role editors and scope pickers."""
    groups: dict[str, list[Permission]] = {}
    for permission in CATALOGUE:
        groups.setdefault(permission.group, []).append(permission)
    return groups


def validate_codes(codes: list[str]) -> list[str]:
    """The unknown codes in `codes` (empty when all are in the catalogue)."""
    return [code for code in codes if code not in BY_CODE]
