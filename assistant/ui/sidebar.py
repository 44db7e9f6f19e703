"""The conversations sidebar (issue 21): the signed-in person's conversations, newest first and grouped by
day, a search by title, New chat, rename in place and delete after a confirmation. The open conversation's
id is in the address bar (`?c=<id>`), so a reload opens it again; an id that is not the caller's opens
nothing (the same owner check as every other read of a conversation)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.errors import AssistantError
from assistant.storage import ConversationInfo

if TYPE_CHECKING:
    from assistant.ui.conversations import Conversations

DAYS = ("Today", "Yesterday", "Earlier")
NOT_YOURS = "That conversation does not exist or is not yours: a new chat is open instead."
PHONE_WIDTH = 768  # Gradio's sidebar covers the whole page below this width

# Installed by the list (gr.HTML js_on_load): a click on a conversation asks the server to open it; each time
# the server sends the list again, the address bar follows the conversation it marks as open (`?c=<id>`, or
# none for a new chat). On a phone the sidebar covers the page: it starts closed, and closes once one opens.
SIDEBAR_JS = r"""
const toggle = () => document.querySelector('#sidebar .toggle-button, .sidebar .toggle-button');
const narrow = () => window.innerWidth < PHONE_WIDTH;
const sidebarOpen = () => !!document.querySelector('.sidebar.open');
if (narrow() && sidebarOpen() && toggle()) toggle().click();
watch('value', () => {
  const list = element.querySelector('.conversation-list');
  if (!list) return;
  const id = list.dataset.current || '';
  const url = new URL(window.location.href);
  if ((url.searchParams.get('c') || '') === id) return;
  if (id) url.searchParams.set('c', id); else url.searchParams.delete('c');
  window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
});
element.addEventListener('click', (event) => {
  const item = event.target.closest('a.conversation-item');
  if (!item || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  trigger('click', { id: item.dataset.id });
  if (narrow() && sidebarOpen() && toggle()) toggle().click();
});
""".replace("PHONE_WIDTH", str(PHONE_WIDTH))


def day_of(when: datetime, today: date) -> str:
    """ "Today", "Yesterday" or "Earlier" for a conversation last active `when` (UTC days)."""
    day = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).date()
    if day >= today:
        return "Today"
    return "Yesterday" if day == today - timedelta(days=1) else "Earlier"


def matching(items: Sequence[ConversationInfo], query: str | None) -> list[ConversationInfo]:
    """The conversations whose title holds `query` (case and spacing ignored); all of them for no query."""
    needle = " ".join((query or "").split()).casefold()
    return [c for c in items if needle in " ".join((c.title or "").split()).casefold()]


def list_html(
    items: Sequence[ConversationInfo], current: str | None, query: str | None = "", today: date | None = None
) -> str:
    """The list as HTML: titles escaped (they come from people and documents), the open one marked."""
    today = today or datetime.now(UTC).date()
    shown = matching(items, query)
    marked = html.escape(current or "")
    head = f"<nav class='conversation-list' aria-label='Conversations' data-current='{marked}'>"
    if not shown:
        empty = "No conversation matches." if (query or "").strip() else "No conversations yet."
        return f"{head}<p class='conversation-empty'>{empty}</p></nav>"
    parts = [head]
    for day in DAYS:
        members = [c for c in shown if day_of(c.updated_at, today) == day]
        if not members:
            continue
        parts.append(f"<h3 class='conversation-day'>{day}</h3><ul class='conversation-items'>")
        for c in members:
            cid, title = html.escape(c.id), html.escape(c.title or "(untitled)")
            mark = " aria-current='page'" if c.id == current else ""
            parts.append(
                f"<li><a class='conversation-item' href='?c={cid}' data-id='{cid}' title='{title}'{mark}>"
                f"{title}</a></li>"
            )
        parts.append("</ul>")
    return "".join(parts) + "</nav>"


def build_sidebar() -> dict[str, Any]:
    """The sidebar's components; call inside the Blocks, outside the tabs."""
    with gr.Sidebar(label="Conversations", open=True, width=300, elem_id="sidebar"):
        new = gr.Button("New chat", variant="primary", size="sm", elem_id="new-chat")
        search = gr.Textbox(
            label="Search conversations",
            show_label=False,
            placeholder="Search by title…",
            max_length=200,
            container=False,
            elem_id="conversation-search",
        )
        listing = gr.HTML("", js_on_load=SIDEBAR_JS, elem_id="conversation-list")
        with gr.Column(visible=False, elem_id="conversation-tools") as tools:
            title = gr.Textbox(label="Title", max_length=200, lines=1, elem_id="conversation-title")
            with gr.Row():
                rename = gr.Button("Rename", size="sm", min_width=60, elem_id="rename-conversation")
                delete = gr.Button("Delete", size="sm", min_width=60, elem_id="delete-conversation")
            with gr.Column(visible=False, elem_id="confirm-delete-chat-row") as confirm_row:
                gr.Markdown("Delete this conversation and all its messages? This cannot be undone.")
                with gr.Row():
                    yes = gr.Button(
                        "Confirm delete", variant="stop", size="sm", elem_id="confirm-delete-chat"
                    )
                    no = gr.Button("Cancel", size="sm", elem_id="cancel-delete-chat")
    return {
        "new": new,
        "search": search,
        "listing": listing,
        "tools": tools,
        "title": title,
        "rename": rename,
        "delete": delete,
        "confirm_row": confirm_row,
        "yes": yes,
        "no": no,
    }


# -- events ------------------------------------------------------------------------------------------------


class SidebarEvents:
    """The sidebar's handlers over `Conversations`, each for the principal behind its request."""

    def __init__(self, conversations: Conversations) -> None:
        self.conversations = conversations

    def listing(self, request: gr.Request | None, current: str | None, query: str | None) -> str:
        return list_html(self.conversations.listing(request), current, query)

    def searched(self, current: str | None, query: str | None, request: gr.Request) -> str:
        return self.listing(request, current, query)

    def shown(
        self, request: gr.Request | None, conversation: str | None, query: str | None
    ) -> tuple[Any, ...]:
        """(chat, sources, groups, id, title, list, tools, confirm row) for `conversation`, or a new chat."""
        history, panel, groups, found, title = self.conversations.load(request, conversation)
        return (
            history,
            panel,
            groups,
            found,
            title,
            self.listing(request, found, query),
            gr.update(visible=found is not None),
            gr.update(visible=False),
        )

    def on_load(self, current: str | None, request: gr.Request) -> tuple[Any, ...]:
        """The pickers' choices, the list, and the conversation of the address's `?c=` when it is the
        caller's. Without `?c=` the page already holds a new chat, and the chat is left as it is: on a busy
        server this event can run after the first question was sent, and an empty chat would wipe its
        bubble; the list marks the conversation that question opened (`current`, read when the event
        runs), or the address would lose its `?c=`. With `?c=` the same holds once a question has opened a
        conversation in this page: the chat shows what the person did last."""
        wanted = (request.query_params.get("c") if request is not None else None) or None
        if wanted and not current:
            shown = self.shown(request, wanted, "")
            if shown[3] is None:
                gr.Warning(NOT_YOURS)
        else:
            shown = (*[gr.skip()] * 5, self.listing(request, current, ""), gr.skip(), gr.skip())
        picker = gr.update(choices=self.conversations.collections(request), value=[])
        documents = gr.update(choices=self.conversations.documents(request), value=[])
        return (picker, documents, *shown)

    def opened(self, query: str | None, evt: gr.EventData, request: gr.Request) -> tuple[Any, ...]:
        data = getattr(evt, "_data", None)
        wanted = str(data.get("id") or "") if isinstance(data, dict) else ""
        shown = self.shown(request, wanted or None, query)
        if wanted and shown[3] is None:
            gr.Warning(NOT_YOURS)
        return shown

    def fresh(self, query: str | None, request: gr.Request) -> tuple[Any, ...]:
        """A new chat: nothing marked open in the list, no title, no tools."""
        return self.listing(request, None, query), "", gr.update(visible=False), gr.update(visible=False)

    def answered(self, current: str | None, query: str | None, request: gr.Request) -> tuple[Any, ...]:
        """After an answer: the list read again (a new conversation appears, marked open), its title."""
        title = self.conversations.title(request, current)
        return (
            self.listing(request, current if title is not None else None, query),
            title if title is not None else gr.skip(),
            gr.update(visible=title is not None),
        )

    def renamed(
        self, conversation: str | None, new_title: str, query: str | None, request: gr.Request
    ) -> tuple[Any, Any]:
        """The list read again (the new title in it) and the title as stored."""
        if not conversation or not (new_title or "").strip():
            gr.Info("Open a conversation and type its new title first.")
            return gr.skip(), gr.skip()
        stored: str | None = None
        try:
            stored = self.conversations.rename(request, conversation, new_title)
            if stored is None:
                gr.Warning("That conversation no longer exists.")
        except AssistantError as exc:
            gr.Warning(exc.message)
        return self.listing(request, conversation if stored is not None else None, query), stored or gr.skip()

    def deleted(self, conversation: str | None, query: str | None, request: gr.Request) -> tuple[Any, ...]:
        if conversation and not self.conversations.delete(request, conversation):
            gr.Warning("That conversation no longer exists.")
        return self.shown(request, None, query)


def wire_sidebar(
    conversations: Conversations,
    bar: dict[str, Any],
    demo: gr.Blocks,
    c: dict[str, Any],
    current: gr.State,
    pickers: dict[str, Any],
    answered: list[Any],
    running: list[Any],
) -> None:
    """The sidebar's events. `c` holds the chat's components (and `cleared`: Clear's fn and outputs),
    `pickers` the collection and document pickers (`picker`, `documents`) and the States they fill."""
    events = SidebarEvents(conversations)
    private: dict[str, Any] = {"api_visibility": "private"}
    search, listing = bar["search"], bar["listing"]
    shown = [c["chatbot"], c["sources"], c["groups"], current, bar["title"], listing, bar["tools"]]
    shown.append(bar["confirm_row"])
    demo.load(events.on_load, current, [pickers["picker"], pickers["documents"], *shown], **private)
    for picker, state in ((pickers["picker"], pickers["picked"]), (pickers["documents"], pickers["chosen"])):
        picker.change(lambda names: list(names or []), picker, state, queue=False, **private)
    listing.click(events.opened, [search], shown, cancels=running, **private)
    search.change(events.searched, [current, search], listing, queue=False, **private)
    bar["new"].click(**c["cleared"], cancels=running, queue=False, **private)
    fresh_outputs = [listing, bar["title"], bar["tools"], bar["confirm_row"]]
    gr.on(
        [bar["new"].click, c["clear"].click, c["chatbot"].clear],
        events.fresh,
        [search],
        fresh_outputs,
        queue=False,
        **private,
    )
    gr.on(
        [bar["rename"].click, bar["title"].submit],
        events.renamed,
        [current, bar["title"], search],
        [listing, bar["title"]],
        **private,
    )
    bar["delete"].click(lambda: gr.update(visible=True), None, bar["confirm_row"], queue=False, **private)
    bar["no"].click(lambda: gr.update(visible=False), None, bar["confirm_row"], queue=False, **private)
    bar["yes"].click(events.deleted, [current, search], shown, cancels=running, **private)
    for done in answered:
        done.then(events.answered, [current, search], [listing, bar["title"], bar["tools"]], **private)
