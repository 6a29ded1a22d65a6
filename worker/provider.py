"""What every SMS and CRM backend says about itself, besides sending (model: django-anymail's
backends, each of which reads its own settings).

A provider module holds all of one provider: its variables (read under its own prefix,
``ENGAGELAB_``, ``BREVO_``), the credentials it needs once chosen, its secrets for the log
scrubber, the check ``relay config check --remote`` runs against it, and its error
classification. The registry (``worker/providers.py``) finds a provider by the name
SMS_BACKEND or CRM_BACKEND gives and asks it through these class methods.
"""

from __future__ import annotations

from typing import Any, Iterator

from shared.environment import Environment
from shared.settings import Settings


class Provider:
    name: str
    """Its SMS_BACKEND or CRM_BACKEND value."""

    @classmethod
    def read_settings(cls, env: Environment) -> Any:
        """Its own settings, read and validated; None for a provider that has none. Read
        whichever provider is chosen, so that a malformed value is refused at start."""
        return None

    @classmethod
    def configured(cls, config: Any) -> bool:
        """Whether its credentials are set: the backend variable then defaults to it."""
        return False

    @classmethod
    def check_settings(cls, config: Any, variable: str) -> None:
        """Chosen (``variable`` is SMS_BACKEND or CRM_BACKEND): raise ConfigError naming
        what it lacks."""

    @classmethod
    def secrets(cls, config: Any) -> tuple[str, ...]:
        """Values the logs must never show."""
        return ()

    @classmethod
    def remote_checks(cls, settings: Settings) -> Iterator[tuple[bool, str]]:
        """(ok, what) for each fact at the provider the configuration depends on."""
        return iter(())
