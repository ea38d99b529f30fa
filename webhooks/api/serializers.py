from __future__ import annotations

from rest_framework import serializers

from apikeys.models import Environment
from webhooks import catalogue
from webhooks.models import Attempt, Delivery


class EventTypeOutput(serializers.Serializer):
    name = serializers.CharField()
    group = serializers.CharField()
    description = serializers.CharField()
    schema = serializers.JSONField()
    example = serializers.JSONField()
    deprecated = serializers.BooleanField()


class EndpointOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    url = serializers.URLField()
    description = serializers.CharField()
    livemode = serializers.BooleanField()
    environment = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField(), help_text="Empty: every type.")
    enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    headers = serializers.DictField(child=serializers.CharField())
    rate_limit_per_second = serializers.IntegerField(allow_null=True)
    previous_secret_valid_until = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "webhook_endpoint"


class EndpointWithSecretOutput(EndpointOutput):
    secret = serializers.SerializerMethodField(help_text="The whsec_ signing secret.")

    def get_secret(self, obj) -> str:
        return self.context["secret"]


class SecretOutput(serializers.Serializer):
    secret = serializers.CharField()
    previous_secret_valid_until = serializers.DateTimeField(allow_null=True)


_TYPES = [t.name for t in catalogue.EVENT_TYPES]


class EndpointCreateInput(serializers.Serializer):
    url = serializers.CharField(max_length=2048)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    environment = serializers.ChoiceField(choices=Environment.choices, required=False, default="")
    event_types = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    headers = serializers.DictField(child=serializers.CharField(max_length=1000), required=False, default=dict)
    rate_limit_per_second = serializers.IntegerField(required=False, allow_null=True, min_value=1, default=None)


class EndpointUpdateInput(serializers.Serializer):
    url = serializers.CharField(max_length=2048, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    event_types = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    headers = serializers.DictField(child=serializers.CharField(max_length=1000), required=False)
    rate_limit_per_second = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class DisableInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="Disabled by a member.")


class TestEventInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=_TYPES, default="webhook.test")


class RecoverInput(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Resend every failed delivery created at or after this time.")


class RecoverOutput(serializers.Serializer):
    recovered = serializers.IntegerField()


class ResendInput(serializers.Serializer):
    endpoint = serializers.CharField(help_text="A webhook endpoint id (whep_...).")


class EventOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    type = serializers.CharField()
    livemode = serializers.BooleanField()
    data = serializers.JSONField()
    created_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "event"


class AttemptOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    url = serializers.CharField()
    request_headers = serializers.DictField(child=serializers.CharField())
    request_body = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField()
    response_headers = serializers.DictField(child=serializers.CharField())
    response_body = serializers.CharField(help_text="The first 4 KB.")
    error_class = serializers.ChoiceField(choices=Attempt.ErrorClass.choices)
    error = serializers.CharField()
    succeeded = serializers.BooleanField()

    def get_object(self, obj) -> str:
        return "webhook_attempt"


class DeliveryOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    webhook_id = serializers.CharField(help_text="The webhook-id header: the same on every retry and resend.")
    endpoint = serializers.CharField(source="endpoint.public_id")
    event = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField()
    livemode = serializers.BooleanField()
    status = serializers.ChoiceField(choices=Delivery.Status.choices)
    attempt_count = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    is_resend = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)

    def get_object(self, obj) -> str:
        return "webhook_delivery"
