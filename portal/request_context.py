"""The current request id, readable from anywhere in the request (logs, problem bodies)."""

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
