"""Entry point: `python app.py [--host H] [--port P]` serves the chat UI and the API on one port."""

from assistant.cli import app as cli


def main() -> None:
    import sys

    cli(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    main()
