"""Exceptions of the task registry.

Why: the app shows these messages to chemists as they are, so every failure of the registry
is one exception family with a plain-language message, never a raw sqlite or zipfile error.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Any failure of the task registry; the message is meant for the user."""


class InvalidNameError(RegistryError, ValueError):
    """A task name or archive member path that is not allowed."""


class TaskExistsError(RegistryError):
    """A task with that name is already registered (pass ``replace=True`` to swap it)."""


class TaskNotFoundError(RegistryError, LookupError):
    """No task with that name is registered."""


class RunNotFoundError(RegistryError, LookupError):
    """No training run with that id exists."""


class RunActiveError(RegistryError):
    """The task already has a queued or running run: one active run per task."""


class ArchiveError(RegistryError):
    """A task archive that cannot be imported: not a zip, damaged, tampered or incompatible."""
