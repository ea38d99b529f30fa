from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.permissions import BUILTIN_ROLE_PERMISSIONS
from portal.lib.ids import new_public_id


def new_user_id() -> str:
    return new_public_id("usr")


def new_org_id() -> str:
    return new_public_id("org")


def new_membership_id() -> str:
    return new_public_id("mem")


def new_role_id() -> str:
    return new_public_id("role")


def new_invitation_id() -> str:
    return new_public_id("inv")


def new_session_id() -> str:
    return new_public_id("ses")


class PlanManager(models.Manager):
    def get_default(self) -> Plan:
        """The plan new organisations get. Migration 0002 seeds it; should the table ever be
        emptied (a flushed test database, a hand-cleaned install) the Free plan is recreated."""
        plan = self.filter(is_default=True).first()
        if plan is None:
            plan, _ = self.get_or_create(
                code="free",
                defaults={"name": "Free", "requests_per_hour": 1_000, "burst": 100, "is_default": True},
            )
        return plan


class Plan(models.Model):
    """A commercial plan with its API rate limit; staff edit these in admin."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    requests_per_hour = models.PositiveIntegerField()
    burst = models.PositiveIntegerField(default=0, help_text="Extra requests allowed in a burst above the steady rate.")
    monthly_price_minor = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="USD")
    is_default = models.BooleanField(default=False)
    sort_order = models.PositiveSmallIntegerField(default=0)

    objects = PlanManager()

    class Meta:
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="plan_single_default")
        ]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("email_verified_at", timezone.now())
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    public_id = models.CharField(max_length=32, unique=True, default=new_user_id, editable=False)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    email_verified_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def has_totp(self) -> bool:
        device = getattr(self, "totp_device", None)
        return bool(device and device.confirmed_at)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Organization(models.Model):
    class Kind(models.TextChoices):
        DEVELOPER = "developer", "Developer"
        PARTNER = "partner", "Partner"

    public_id = models.CharField(max_length=32, unique=True, default=new_org_id, editable=False)
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DEVELOPER)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="organizations")
    require_2fa = models.BooleanField(default=False, help_text="Every member must use a second factor.")
    website = models.URLField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_partner(self) -> bool:
        return self.kind == self.Kind.PARTNER


class Role(models.Model):
    """A custom role: a named set of permissions from the catalogue."""

    public_id = models.CharField(max_length=32, unique=True, default=new_role_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=60)
    description = models.CharField(max_length=200, blank=True)
    permissions = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="role_unique_name_per_org")]

    def __str__(self) -> str:
        return self.name


class RoleName(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    READ_ONLY = "read_only", "Read-only"
    CUSTOM = "custom", "Custom"


class Membership(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=new_membership_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=RoleName.choices, default=RoleName.DEVELOPER)
    custom_role = models.ForeignKey(Role, on_delete=models.PROTECT, null=True, blank=True, related_name="memberships")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_org"),
            models.CheckConstraint(
                condition=(Q(role="custom") & Q(custom_role__isnull=False))
                | (~Q(role="custom") & Q(custom_role__isnull=True)),
                name="membership_custom_role_iff_custom",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role_label})"

    @property
    def role_label(self) -> str:
        if self.role == RoleName.CUSTOM and self.custom_role_id:
            return self.custom_role.name
        return RoleName(self.role).label

    @property
    def permissions(self) -> frozenset[str]:
        if self.role == RoleName.CUSTOM:
            return frozenset(self.custom_role.permissions) if self.custom_role_id else frozenset()
        return BUILTIN_ROLE_PERMISSIONS[self.role]

    def has_perm(self, code: str) -> bool:
        return code in self.permissions

    @property
    def is_owner(self) -> bool:
        return self.role == RoleName.OWNER


class Invitation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    public_id = models.CharField(max_length=32, unique=True, default=new_invitation_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=RoleName.choices, default=RoleName.DEVELOPER)
    custom_role = models.ForeignKey(Role, on_delete=models.CASCADE, null=True, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "email"])]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.organization}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.revoked_at:
            return self.Status.REVOKED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.PENDING


class PartnerProfile(models.Model):
    class Verification(models.TextChoices):
        UNSUBMITTED = "unsubmitted", "Not submitted"
        PENDING = "pending", "Pending review"
        VERIFIED = "verified", "Verified"
        REJECTED = "rejected", "Rejected"

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="partner_profile")
    legal_name = models.CharField(max_length=200, blank=True)
    registration_number = models.CharField(max_length=60, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    website = models.URLField(blank=True)
    address = models.TextField(blank=True)
    contact_name = models.CharField(max_length=120, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=40, blank=True)
    verification_status = models.CharField(
        max_length=16, choices=Verification.choices, default=Verification.UNSUBMITTED
    )
    rejection_reason = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["verification_status"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(verification_status="rejected") | ~Q(rejection_reason=""),
                name="partner_rejection_needs_reason",
            )
        ]

    def __str__(self) -> str:
        return f"Partner profile of {self.organization}"

    @property
    def is_verified(self) -> bool:
        return self.verification_status == self.Verification.VERIFIED

    REQUIRED_FIELDS = (
        "legal_name",
        "registration_number",
        "country",
        "website",
        "address",
        "contact_name",
        "contact_email",
    )

    def missing_fields(self) -> list[str]:
        return [name for name in self.REQUIRED_FIELDS if not getattr(self, name)]


class AuditLogQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The audit log is append-only.")

    def delete(self):
        raise TypeError("The audit log is append-only.")


class AuditLog(models.Model):
    """Append-only record of security-relevant actions; written by services only."""

    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_entries"
    )
    actor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=80)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["organization", "action", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_email or 'system'} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit log is append-only.")


class TOTPDevice(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    secret_encrypted = models.TextField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last accepted time step: a code is never accepted twice (RFC 6238, section 5.2).
    last_used_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"TOTP for {self.user}"


class RecoveryCode(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "code_hash"])]

    def __str__(self) -> str:
        return f"Recovery code of {self.user}"


class EmailCode(models.Model):
    """A one-time sign-in code sent by e-mail, the fallback second factor."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"E-mail code for {self.user}"


class KnownDevice(models.Model):
    """A browser and network a user has signed in from (a hashed fingerprint)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="known_devices")
    fingerprint = models.CharField(max_length=64)
    user_agent = models.CharField(max_length=400, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "fingerprint"], name="known_device_unique")]

    def __str__(self) -> str:
        return f"{self.user} on {self.user_agent[:40]}"


class UserSession(models.Model):
    """One signed-in browser session, so a user can see and end their sessions."""

    public_id = models.CharField(max_length=32, unique=True, default=new_session_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="user_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    user_agent = models.CharField(max_length=400, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"Session of {self.user} from {self.ip}"


class LoginAttempt(models.Model):
    email = models.CharField(max_length=254, db_index=True)
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    succeeded = models.BooleanField(default=False)
    reason = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["ip", "-created_at"]), models.Index(fields=["email", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.email} {'ok' if self.succeeded else self.reason}"
