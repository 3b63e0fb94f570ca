"""The one error type of the `shadercam` command: raised by any command, reported in one line
by `app.cli.main` (no traceback), with the exit status it carries."""
from __future__ import annotations


class CliError(Exception):
    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status
