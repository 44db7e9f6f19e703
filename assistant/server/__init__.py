"""The HTTP server: app factory, dependencies, auth, error mapping, schemas and one router per feature."""

from assistant.server.app import create_api, create_app, run

__all__ = ["create_api", "create_app", "run"]
