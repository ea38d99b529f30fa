"""The audit log and the request metadata every service records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accounts.models import (
    AuditLog,
    Organization,
    User,
)


@dataclass(frozen=True)
class RequestMeta:
    """Who is acting and from where; built once per request, passed to services."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request) -> RequestMeta:
        return cls(ip=client_ip(request), user_agent=request.headers.get("User-Agent", "")[:400])


SYSTEM = RequestMeta()


def client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is trusted only behind a proxy that sets it,
    # which deployments configure at the proxy (docs/decisions.md).
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    action: str,
    actor: User | None,
    organization: Organization | None,
    meta: RequestMeta = SYSTEM,
    target: Any = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    target_type = target._meta.model_name if target is not None else ""
    target_id = str(getattr(target, "public_id", None) or getattr(target, "pk", "")) if target is not None else ""
    return AuditLog.objects.create(
        organization=organization,
        actor=actor if actor is not None and actor.pk else None,
        actor_email=actor.email if actor is not None else "",
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip=meta.ip,
        user_agent=meta.user_agent,
        details=details or {},
    )
