"""Static assets of the chat UI: the script that links [n] markers to source cards, and the CSS."""

# Turns the [n] markers of each answer into links to its source cards, and opens a card when one is clicked.
# Installed once per page by the Sources panel (gr.HTML js_on_load); works for streamed and re-rendered text.
CITATION_JS = r"""
if (!window.__groundedCitations) {
  window.__groundedCitations = true;
  const MARK = /\[(\d{1,3})\]/g;
  const decorate = () => {
    const bots = document.querySelectorAll('#chatbot [data-testid="bot"]');
    bots.forEach((bot, turn) => {
      bot.querySelectorAll('.message-content .md').forEach((md) => {
        const walker = document.createTreeWalker(md, NodeFilter.SHOW_TEXT);
        const nodes = [];
        while (walker.nextNode()) {
          const node = walker.currentNode;
          if (node.parentElement.closest('a, code, pre')) continue;
          MARK.lastIndex = 0;
          if (MARK.test(node.nodeValue)) nodes.push(node);
        }
        nodes.forEach((node) => {
          const text = node.nodeValue;
          const frag = document.createDocumentFragment();
          let last = 0;
          MARK.lastIndex = 0;
          for (let m = MARK.exec(text); m; m = MARK.exec(text)) {
            frag.append(text.slice(last, m.index));
            const a = document.createElement('a');
            a.className = 'cite';
            a.href = '#source-' + turn + '-' + m[1];
            a.textContent = m[0];
            a.setAttribute('aria-label', 'Show source ' + m[1]);
            frag.append(a);
            last = m.index + m[0].length;
          }
          frag.append(text.slice(last));
          node.replaceWith(frag);
        });
      });
      bot.querySelectorAll('a.cite').forEach((a) => {
        const card = document.getElementById(a.getAttribute('href').slice(1));
        const hint = card && card.dataset.hint;
        if (hint && a.title !== hint) a.title = hint;
      });
    });
  };
  let queued = false;
  new MutationObserver(() => {
    if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; decorate(); }); }
  }).observe(document.body, { childList: true, subtree: true, characterData: true });
  const reveal = (id) => {
    const card = document.getElementById(id);
    if (!card) return false;
    const group = card.closest('.source-group');
    document.querySelectorAll('#sources .source-group').forEach((g) => { g.hidden = g !== group; });
    card.open = true;
    card.classList.remove('flash');
    void card.offsetWidth;
    card.classList.add('flash');
    card.scrollIntoView({ behavior: 'smooth', block: window.innerWidth < 700 ? 'start' : 'nearest' });
    const summary = card.querySelector('summary');
    if (summary) summary.focus({ preventScroll: true });
    return true;
  };
  document.addEventListener('click', (ev) => {
    const back = ev.target.closest && ev.target.closest('a.back-to-chat');
    if (back) {
      ev.preventDefault();
      const chat = document.getElementById('chatbot');
      if (chat) chat.scrollIntoView({ behavior: 'smooth', block: 'start' });
      return;
    }
    const link = ev.target.closest && ev.target.closest('a[href^="#source-"]');
    if (!link) return;
    ev.preventDefault();
    ev.stopPropagation();
    reveal(link.getAttribute('href').slice(1));
  }, true);
  decorate();
}
"""

# Gradio scopes custom CSS to `.contain`, except top-level rules (also emitted as written): the page padding
# rule must stay top-level, outside any @media block, to reach the element around `.contain`.
CSS = """
.gradio-container .main.app { padding-left: clamp(8px, 2.5vw, 32px) !important;
  padding-right: clamp(8px, 2.5vw, 32px) !important; }
#header .html-container { padding-left: 0; padding-right: 0; }
#sources .html-container { padding: 0 4px; }
.app-header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; }
.app-header h1 { font-size: 1.35rem; margin: 0; }
.mode-badge { display: inline-block; font-size: 0.8rem; padding: 1px 8px; border-radius: 999px;
  border: 1px solid var(--border-color-primary); color: var(--body-text-color-subdued); }
.mode-badge.offline { background: #fef3c7; color: #78350f; border-color: #fcd34d; }
.account { font-size: 0.9rem; text-align: right; margin: 0; }
.tagline { color: var(--body-text-color); opacity: 0.75; margin: 2px 0 0; font-size: 0.95rem; }
#chatbot a.cite { font-weight: 600; text-decoration: none; padding: 0 2px; border-radius: 4px;
  color: var(--link-text-color, #2563eb); background: var(--color-accent-soft, #e0e7ff); cursor: pointer; }
#chatbot a.cite:hover, #chatbot a.cite:focus { text-decoration: underline; }
#chatbot .placeholder { padding: 0 16px; text-align: center; }
#chatbot [data-testid="bot"] .message-content .md, #chatbot [data-testid="user"] .message-content .md {
  white-space: pre-wrap; }
#chatbot .unsupported-note { color: #92400e; }
/* the dots stand for an answer not written yet: nothing to copy under them */
#chatbot .message-row:has(.typing-indicator) + .message-buttons { display: none; }
/* Gradio's own trash icon floated over the messages and a copy icon: Clear, under the chat, does the same */
#chatbot .icon-button-wrapper.top-panel { display: none; }
#chatbot .typing-indicator { position: relative; display: inline-flex; gap: 5px; align-items: center;
  height: 1.4em; }
#chatbot .typing-indicator span { width: 7px; height: 7px; border-radius: 50%; background: currentColor;
  opacity: 0.3; animation: typing-dot 1.2s infinite ease-in-out; }
#chatbot .typing-indicator span:nth-child(2) { animation-delay: 0.2s; }
#chatbot .typing-indicator span:nth-child(3) { animation-delay: 0.4s; }
#chatbot .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip-path: inset(50%); white-space: nowrap; }
@keyframes typing-dot { 0%, 80%, 100% { opacity: 0.3; transform: none; }
  40% { opacity: 0.9; transform: translateY(-3px); } }
.source-card .meta .section { font-style: italic; }
#composer { align-items: stretch; }
#composer button { min-width: 84px; }
#chat-actions { gap: 8px; }
#chat-actions button { flex: 1 1 0; min-width: 0; }
.sources-title { font-weight: 600; margin: 0 0 6px; font-size: 1rem; }
.sources-question { color: var(--body-text-color); opacity: 0.8; font-size: 0.85rem; margin: 0 0 6px; }
.source-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 6px 10px;
  margin: 6px 0; background: var(--background-fill-primary); }
.source-card summary { cursor: pointer; font-weight: 600; overflow-wrap: anywhere; }
.source-card summary .n { color: var(--link-text-color, #2563eb); margin-right: 4px; }
.source-card .file, .other-passages .file { font-weight: 400; opacity: 0.7; font-size: 0.9em; }
.source-card .meta { color: var(--body-text-color-subdued); font-size: 0.8rem; margin-top: 2px; }
.source-card .passage { white-space: pre-wrap; margin-top: 6px; line-height: 1.5; font-size: 0.9rem;
  max-height: 320px; overflow-y: auto; overflow-wrap: anywhere; }
.source-card mark { background: #fde68a; color: #1f2937; padding: 0 2px; border-radius: 3px; }
.source-card.flash { animation: cite-flash 1.2s ease-out; }
@keyframes cite-flash { from { box-shadow: 0 0 0 3px #f59e0b; } to { box-shadow: 0 0 0 0 transparent; } }
a.back-to-chat { display: none; font-size: 0.85rem; margin-top: 6px; }
.other-passages { font-size: 0.85rem; margin-top: 8px; color: var(--body-text-color-subdued); }
.other-passages summary { cursor: pointer; }
.other-passages li { margin: 4px 0; overflow-wrap: anywhere; }
.mode-note { font-size: 0.9em; color: var(--body-text-color); opacity: 0.8; }
#documents-table table.documents { width: 100%; border-collapse: collapse; font-size: 0.9rem; border: 0;
  margin: 0; }
#documents-table tr { border: 0; }
#documents-table th, #documents-table td { padding: 6px 8px; text-align: left; vertical-align: top;
  border: 0; border-bottom: 1px solid var(--border-color-primary); }
#documents-table td[data-label='Added'] { white-space: nowrap; }
#documents-table th { font-weight: 600; color: var(--body-text-color-subdued); font-size: 0.8rem; }
#documents-table .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
#documents-table .doc-name { overflow-wrap: anywhere; }
#documents-table .doc-title { display: block; font-weight: 500; }
#documents-table .doc-file { display: block; font-size: 0.8em; opacity: 0.7; }
#documents-table .doc-actions { text-align: right; width: 1%; }
#documents-table button.delete-doc { min-height: 32px; padding: 4px 12px; border-radius: 6px; cursor: pointer;
  border: 1px solid #fca5a5; color: #b91c1c; background: var(--background-fill-primary); }
#documents-table button.delete-doc:hover, #documents-table button.delete-doc:focus-visible {
  background: #fee2e2; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
.notice { border-left: 4px solid #f59e0b; padding: 8px 12px; border-radius: 4px;
  background: var(--background-fill-secondary); }
#documents-status p { margin: 4px 0; }
/* the confirm question floats over the page: a row's Delete may be far down a long table */
#confirm-row { border: 1px solid #fca5a5; border-radius: 8px; padding: 8px; position: fixed; z-index: 1000;
  left: 50%; bottom: 24px; transform: translateX(-50%); width: min(560px, calc(100vw - 24px));
  background: var(--background-fill-primary); box-shadow: 0 8px 24px rgba(0, 0, 0, 0.2); }
/* the closed sidebar leaves its toggle over the left edge of the page: the title moves aside */
.gradio-container:not(:has(.sidebar.open)) .app-header { padding-left: 36px; }
#conversation-list .html-container { padding: 0; }
.conversation-list { font-size: 0.9rem; }
.conversation-day { font-size: 0.75rem; font-weight: 600; text-transform: uppercase; letter-spacing: 0.04em;
  color: var(--body-text-color-subdued); margin: 12px 0 4px; }
.conversation-items { list-style: none; margin: 0; padding: 0; }
.conversation-item { display: block; padding: 5px 8px; border-radius: 6px; color: var(--body-text-color);
  text-decoration: none; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.conversation-item:hover, .conversation-item:focus { background: var(--background-fill-primary); }
.conversation-item[aria-current] { background: var(--color-accent-soft, #e0e7ff); font-weight: 600; }
.conversation-empty { color: var(--body-text-color-subdued); margin: 8px 0; }
#confirm-delete-chat-row { border: 1px solid #fca5a5; border-radius: 8px; padding: 8px; }
@media (max-width: 640px) {
  a.back-to-chat { display: inline-block; }
  .app-header h1 { font-size: 1.15rem; }
  .tagline { font-size: 0.85rem; }
  #chatbot { height: 58vh !important; min-height: 300px; }
  #composer { flex-wrap: nowrap !important; }
  #composer > div:first-child { min-width: 0 !important; }
  #composer button { min-width: 64px; }
  .source-card .passage { max-height: 240px; }
  /* a phone: each document is a card of label: value lines, its Delete button a full-width row */
  #documents-table thead { display: none; }
  #documents-table table.documents, #documents-table tbody, #documents-table tr, #documents-table td {
    display: block; width: auto; }
  #documents-table tr { border: 1px solid var(--border-color-primary); border-radius: 8px; margin: 8px 0;
    padding: 4px 8px; }
  #documents-table td { border: none; padding: 3px 0; display: flex; justify-content: space-between;
    gap: 12px; text-align: right; }
  #documents-table td::before { content: attr(data-label); font-weight: 600; text-align: left;
    color: var(--body-text-color-subdued); flex: none; }
  #documents-table td.doc-name { display: block; text-align: left; }
  #documents-table td.doc-name::before { content: none; }
  #documents-table td.doc-actions { width: auto; display: block; padding-top: 6px; }
  #documents-table td.doc-actions::before { content: none; }
  #documents-table button.delete-doc { width: 100%; min-height: 40px; }
}
"""
