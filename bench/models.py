from django.db import models
from django.utils import timezone


class PeerRequestLog(models.Model):
    """The peer stack's request log: one row INSERTed synchronously per request.

    Shaped like apikeys.RequestLog (same kind of columns and a time index) so the peer
    pays for the same record our path captures, only written the usual first-version way.
    """

    key_prefix = models.CharField(max_length=16)
    route = models.CharField(max_length=200)
    method = models.CharField(max_length=10)
    status = models.PositiveSmallIntegerField()
    latency_ms = models.PositiveIntegerField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["key_prefix", "-created_at"], name="bench_peerlog_key_time")]

    def __str__(self) -> str:
        return f"{self.method} {self.route} {self.status}"
