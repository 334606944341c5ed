"""The error hierarchy shared by every package; the CLI maps it to exit codes.

    CloudwardenError                 base; never raised itself
    ├── BadInputError                exit 2: a file, field or flag the user gave is wrong
    │   └── (location: file, line, JSON pointer or flag name, always said in the message)
    └── RuntimeFailure               exit 3: the world failed us
        ├── EndpointUnreachable      no AWS endpoint answered (lab down, network)
        └── CredentialsRefused       no credentials, or AWS refused them

Findings at or above ``--fail-on`` exit 1, which is not an error and has no class here.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
EXIT_RUNTIME = 3


class CloudwardenError(Exception):
    """Base class; ``exit_code`` is what the CLI returns for it."""

    exit_code = EXIT_RUNTIME


class BadInputError(CloudwardenError):
    """Input the user controls is wrong. ``where`` names the file/line/field/flag."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, where: str, why: str) -> None:
        self.where = where
        self.why = why
        super().__init__(f"{where}: {why}" if where else why)


class RuntimeFailure(CloudwardenError):
    """Something outside the user's input failed (network, AWS, disk)."""

    exit_code = EXIT_RUNTIME


class EndpointUnreachable(RuntimeFailure):
    """No AWS endpoint answered."""


class CredentialsRefused(RuntimeFailure):
    """No usable credentials, or AWS refused them."""
