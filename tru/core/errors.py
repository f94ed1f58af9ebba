"""Errors a user can act on. The CLI prints them as one line and exits with status 2."""

from __future__ import annotations

from pathlib import Path


class TruError(Exception):
    """A problem with the user's input or settings, with a hint on what to do."""

    exit_code = 2


class InputError(TruError):
    """Bad data in a file: names the file, the line (1-based) and the field where known."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ):
        self.path = str(path)
        self.line = line
        self.field = field
        self.hint = hint
        where = self.path if line is None else f"{self.path}:{line}"
        text = f"{where}: "
        if field is not None:
            text += f"field '{field}': "
        text += message
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class ConfigError(TruError):
    """An unknown or contradictory setting."""


class TrainingDiverged(TruError):
    """The divergence guard stopped training; the last good checkpoint is kept."""

    exit_code = 3
