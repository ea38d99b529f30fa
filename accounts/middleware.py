from django.utils.functional import SimpleLazyObject

from accounts.selectors import membership_for_session

SESSION_ORG_KEY = "current_org"


class OrganizationMiddleware:
    """Attach the signed-in user's current membership (and its organisation).

    The current organisation is kept in the session by public id; a user with several
    memberships switches with the organisation switcher. Resolved lazily, so requests
    that never look at it (static files, the API) pay nothing.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = SimpleLazyObject(lambda: membership_for_session(request))
        return self.get_response(request)
