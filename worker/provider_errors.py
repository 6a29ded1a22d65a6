"""How a provider call failed, in two classes the jobs act on.

Transient: the same call may succeed later (network, timeout, 5xx, 429, a provider's
"internal error"); the job schedules a retry with backoff, honouring ``retry_after``.
Permanent: it will not (credentials, bad template, bad number); the job fails at once
with the provider's code and message and lands in the failed-job registry for replay.
"""

from __future__ import annotations

from typing import Callable

import requests

from shared.scrub import redact


class ProviderError(Exception):
    """Not a RelayError: the message is the provider's own text, which may quote what it
    was sent (a number, a name). The jobs redact what they sent from it (``redacted``), and
    logs mask its quoted values like any foreign text."""

    def __init__(self, provider: str, message: str, code: int | str | None = None, status: int | None = None):
        self.provider = provider
        self.code = code
        self.status = status
        self.message = message
        super().__init__(f"{self._detail()}: {message}")

    def redacted(self, values) -> "ProviderError":
        """The same error, with the given personal values masked in the provider's text:
        what is logged, kept with a failed job, and carried into a retry."""
        message = redact(self.message, values)
        if message == self.message:
            return self
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__dict__, message=message)
        Exception.__init__(twin, f"{self._detail()}: {message}")
        return twin

    def _detail(self) -> str:
        detail = f"{self.provider}"
        if self.status is not None:
            detail += f" HTTP {self.status}"
        if self.code is not None:
            detail += f" code {self.code}"
        return detail


class TransientError(ProviderError):
    def __init__(self, *args, retry_after: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class PermanentError(ProviderError):
    pass


def unreachable(provider: str) -> Callable[[requests.RequestException], TransientError]:
    """A network failure or timeout calling ``provider``: transient, named by its type only
    (requests' text can quote the URL)."""

    def translate(error: requests.RequestException) -> TransientError:
        cause = "timeout" if isinstance(error, requests.Timeout) else "network error"
        return TransientError(provider, f"{cause}: {type(error).__name__}")

    return translate
