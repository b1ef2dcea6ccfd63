"""The web console at ``/console``: server-rendered pages over the API's own actions
(docs/console.md). ``app`` routes requests, checks the session and the form token and sets the
headers; ``pages`` holds one function per page or button, each calling actions through the
server's ``invoke``; ``templates`` and ``static`` are what the browser receives."""

from openkms.console.app import ConsoleApp
from openkms.console.page import Gateway, Outcome

__all__ = ["ConsoleApp", "Gateway", "Outcome"]
