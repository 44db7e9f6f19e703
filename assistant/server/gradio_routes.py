"""The Gradio routes this UI and `gradio_client` use; every other route a mounted Gradio app serves is 404
(N27). Gradio mounts dozens (its dev reload, run history, deep links, media streams, recordings, "vibe"
editing, monitoring), each a door of its own: `/gradio_api/process_recording` wrote a member's uploads to
/tmp for good, `/gradio_api/dev/reload` held a polling loop per open stream, `file=http://...` had this
offline server fetch any public URL. What is not listed here is not served, whatever a Gradio upgrade adds.
"""

from __future__ import annotations

import re

PREFIX = "/gradio_api/"
# The routes the page and `gradio_client` call (gradio_client/utils.py: `*_URL`), by their path under PREFIX.
EXACT = frozenset(
    {
        "queue/join",  # an event: the browser's and gradio_client's
        "queue/data",  # its stream of messages
        "upload",  # an admin's files for the Documents tab (the gate refuses a member's)
        "upload_progress",
        "info",  # the API page of the footer, and gradio_client's description of `/chat`
        "cancel",  # Stop and Clear
        "reset",  # after a cancelled stream
        "component_server",
        "app_id",
        "theme.css",
    }
)
STARTS = (
    "heartbeat/",
    "run/",  # an event run without the queue (a button's state, a table's refresh)
    "api/",  # gradio_client's path for those
    "call/",  # the curl API of the footer's API page
    "file=",  # a file Gradio cached: an upload, the favicon (local paths only: see `names_a_url`)
    "file/",
)
# Pages outside PREFIX that a mounted app serves and this one does not.
REFUSED_PAGES = ("/monitoring",)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def served(path: str) -> bool:
    """Whether a request for `path` reaches Gradio: one of this UI's routes, or a page outside PREFIX."""
    if not path.startswith(PREFIX):
        return not any(path == page or path.startswith(page + "/") for page in REFUSED_PAGES)
    route = path[len(PREFIX) :]
    if route.rstrip("/") in EXACT or route.startswith(STARTS):
        return not names_a_url(route)
    return False


def names_a_url(route: str) -> bool:
    """`file=` or `file/` followed by a URL ("http://...", any scheme): Gradio fetches such a file from
    the network, where this server must not go (N19)."""
    for start in ("file=", "file/"):
        if route.startswith(start):
            return _SCHEME.match(route[len(start) :].lstrip("/")) is not None
    return False
