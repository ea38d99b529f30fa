from __future__ import annotations

from rest_framework import serializers

from apikeys.models import ApiKey, Environment

GRACE_CHOICES = {"none": 0, "1h": 3600, "24h": 86_400, "7d": 604_800}


class KeyOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    name = serializers.CharField()
    description = serializers.CharField()
    environment = serializers.CharField()
    livemode = serializers.BooleanField()
    prefix = serializers.CharField(source="display_prefix")
    last4 = serializers.CharField()
    status = serializers.ChoiceField(choices=ApiKey.Status.choices)
    scopes = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField(allow_null=True)
    allowed_ips = serializers.ListField(child=serializers.CharField())
    allowed_countries = serializers.ListField(child=serializers.CharField())
    rate_limit_per_hour = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, default=None)
    last_used_at = serializers.DateTimeField(allow_null=True)
    last_used_ip = serializers.IPAddressField(allow_null=True)
    rotated_at = serializers.DateTimeField(allow_null=True)
    previous_secret_valid_until = serializers.DateTimeField(source="previous_valid_until", allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_reason = serializers.CharField()

    def get_object(self, obj) -> str:
        return "api_key"


class KeyWithSecretOutput(KeyOutput):
    secret = serializers.SerializerMethodField(help_text="The full key. Shown once; store it now.")

    def get_secret(self, obj) -> str:
        return self.context["secret"]


class KeyCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    environment = serializers.ChoiceField(choices=Environment.choices, required=False, default="")
    scopes = serializers.ListField(child=serializers.CharField(max_length=60), required=False, default=list)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    allowed_ips = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list)
    allowed_countries = serializers.ListField(
        child=serializers.CharField(max_length=2), required=False, default=list, help_text="ISO 3166 codes, e.g. GB."
    )
    rate_limit_per_hour = serializers.IntegerField(required=False, allow_null=True, min_value=1, default=None)
    template = serializers.CharField(required=False, allow_blank=True, default="", help_text="A key template id.")


class KeyUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    scopes = serializers.ListField(child=serializers.CharField(max_length=60), required=False)
    allowed_ips = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    allowed_countries = serializers.ListField(child=serializers.CharField(max_length=2), required=False)
    rate_limit_per_hour = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="null removes the key's own limit."
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="null: never expires.")


class KeyRotateInput(serializers.Serializer):
    grace = serializers.ChoiceField(
        choices=list(GRACE_CHOICES), default="none", help_text="How long the previous secret keeps working."
    )


class KeyRevokeInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class KeyBulkInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=["revoke", "rotate", "extend", "set_scopes"])
    ids = serializers.ListField(child=serializers.CharField(max_length=32), min_length=1, max_length=100)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    grace = serializers.ChoiceField(choices=list(GRACE_CHOICES), required=False, default="none")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    scopes = serializers.ListField(child=serializers.CharField(max_length=60), required=False)

    def validate(self, attrs):
        if attrs["action"] == "set_scopes" and not attrs.get("scopes"):
            raise serializers.ValidationError({"scopes": ["Give the scopes to set."]})
        if attrs["action"] == "extend" and not attrs.get("expires_at"):
            raise serializers.ValidationError({"expires_at": ["Give the new expiry."]})
        return attrs


class KeyBulkOutput(serializers.Serializer):
    action = serializers.CharField()
    count = serializers.IntegerField()
    data = KeyOutput(many=True)
    secrets = serializers.DictField(child=serializers.CharField(), required=False)


class LeakReportInput(serializers.Serializer):
    key = serializers.CharField(max_length=200)
    url = serializers.URLField(required=False, allow_blank=True, help_text="Where the key was found.")


class LeakReportOutput(serializers.Serializer):
    received = serializers.BooleanField()


class CurrentKeyOutput(serializers.Serializer):
    id = serializers.CharField(source="credential_id")
    object = serializers.SerializerMethodField()
    organization = serializers.CharField(source="organization_public_id")
    environment = serializers.CharField()
    livemode = serializers.BooleanField()
    scopes = serializers.SerializerMethodField()

    def get_object(self, obj) -> str:
        return "api_key"

    def get_scopes(self, obj) -> list[str]:
        return sorted(obj.scopes)


# ==== OAuth applications ====

OAUTH_GRANT_NAMES = {"client-credentials": "client_credentials", "authorization-code": "authorization_code"}


class OAuthApplicationOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    name = serializers.CharField()
    description = serializers.CharField()
    environment = serializers.CharField()
    livemode = serializers.BooleanField()
    client_id = serializers.CharField()
    client_type = serializers.CharField()
    grant_type = serializers.SerializerMethodField()
    redirect_uris = serializers.ListField(child=serializers.CharField(), source="redirect_uri_list")
    scopes = serializers.ListField(child=serializers.CharField(), source="allowed_scopes")
    created_at = serializers.DateTimeField(source="created")
    updated_at = serializers.DateTimeField(source="updated")
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, default=None)
    secret_rotated_at = serializers.DateTimeField(allow_null=True)

    def get_object(self, obj) -> str:
        return "oauth_application"

    def get_grant_type(self, obj) -> str:
        return OAUTH_GRANT_NAMES.get(obj.authorization_grant_type, obj.authorization_grant_type)


class OAuthApplicationWithSecretOutput(OAuthApplicationOutput):
    client_secret = serializers.SerializerMethodField(help_text="Shown once; store it now. Only a hash is kept.")

    def get_client_secret(self, obj) -> str:
        return self.context["secret"]


class OAuthApplicationCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    environment = serializers.ChoiceField(
        choices=Environment.choices, required=False, default="", help_text="live or test; test when left out."
    )
    grant_type = serializers.ChoiceField(choices=["client_credentials", "authorization_code"])
    redirect_uris = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, default=list, max_length=10
    )
    scopes = serializers.ListField(child=serializers.CharField(max_length=60), min_length=1, max_length=100)


class OAuthApplicationUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    redirect_uris = serializers.ListField(child=serializers.CharField(max_length=500), required=False, max_length=10)
    scopes = serializers.ListField(child=serializers.CharField(max_length=60), required=False, max_length=100)
