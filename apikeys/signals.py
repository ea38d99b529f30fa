"""Signals other apps may listen to; apikeys never imports them.

`grant_requests_flushed` is sent by `apikeys.capture.request_logs_insert`, inside the
transaction that writes the request logs, with `usage={grant_id: (calls, last_call_at)}`
for the delegated grants whose tokens made those calls. The marketplace keeps its
installations' call counts with it (marketplace/apps.py connects the receiver).
"""

from django.dispatch import Signal

grant_requests_flushed = Signal()
