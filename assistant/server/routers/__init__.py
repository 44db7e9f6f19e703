"""One router per feature: `openai` (/v1), `chat` (/api/chat), `documents` (/api/documents), `health`."""
