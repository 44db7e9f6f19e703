"""The HTTP server: app factory, dependencies, the gate's middleware, error mapping, schemas and one router
per feature (the login page among them). Who may do what is decided in assistant/access."""

from assistant.server.app import create_api, create_app, run

__all__ = ["create_api", "create_app", "run"]
