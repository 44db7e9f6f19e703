"""Access in one place: who is asking (principal), who may do what (gate), the signed session cookie
(sessions), sign-in throttling (throttle) and which collections a caller may read (scopes). No HTTP framework
here beyond reading a request's headers and cookies: the server's middleware, dependencies and login page, and
the UI, all ask these modules."""

from assistant.access.gate import Gate
from assistant.access.principal import OPEN_PRINCIPAL, Principal

__all__ = ["OPEN_PRINCIPAL", "Gate", "Principal"]
