import time

from django.utils.functional import SimpleLazyObject

from accounts.models import User
from accounts.selectors import membership_for_session

SESSION_ORG_KEY = "current_org"
SESSION_TOUCHED_KEY = "_seen_at"
# "Last seen" on the sessions list is precise to this many seconds; one UPDATE per session
# per interval instead of a write on every page view.
TOUCH_INTERVAL = 300


class OrganizationMiddleware:
    """Attach the signed-in user's current membership (and its organisation).

    The current organisation is kept in the session by public id; a user with several
    memberships switches with the organisation switcher. Resolved lazily, so requests
    that never look at it (static files, the API) pay nothing. Also keeps the session's
    "last seen" fresh for the signed-in devices list.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = SimpleLazyObject(lambda: membership_for_session(request))
        response = self.get_response(request)
        self._touch_session(request)
        return response

    @staticmethod
    def _touch_session(request) -> None:
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if user is None or session is None or not user.is_authenticated or not session.session_key:
            return
        if not isinstance(user, User):
            return  # an API key or OAuth token authenticated this request, not the session
        now = int(time.time())
        if now - session.get(SESSION_TOUCHED_KEY, 0) < TOUCH_INTERVAL:
            return
        from accounts.services import RequestMeta, user_session_touch

        session[SESSION_TOUCHED_KEY] = now
        user_session_touch(user=user, session_key=session.session_key, meta=RequestMeta.from_request(request))
