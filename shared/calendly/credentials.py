"""Which Calendly credentials the relay uses, and what follows from them for webhook signing.

A personal access token wins over an OAuth connection (``oauth.api_client``). The two
differ in who chooses the key Calendly signs deliveries with
(https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures):
- a personal access token may pass its own ``signing_key`` when it creates a
  subscription ("you have the option to set a webhook signing key");
- for an OAuth app, "a webhook signing key will automatically be generated for all
  webhooks related to your application": one key, the app's, shown in the developer
  portal. The API never returns a signing key ("Signing key: Write-only",
  https://developer.calendly.com/docs/webhooks/overview), so the relay cannot read the
  app's key; CALENDLY_WEBHOOK_SIGNING_KEY must be set to it.
"""

from __future__ import annotations

from shared.settings import Settings

PERSONAL = "personal access token"
OAUTH = "OAuth"

OAUTH_SIGNING_KEY_NOTE = (
    "with OAuth, Calendly signs every subscription of the OAuth app with the app's webhook signing key "
    "(developer.calendly.com → your app): CALENDLY_WEBHOOK_SIGNING_KEY must be that key"
)


def kind(settings: Settings) -> str | None:
    """PERSONAL, OAUTH, or None without Calendly credentials."""
    if settings.calendly_access_token:
        return PERSONAL
    if settings.calendly_client_id:
        return OAUTH
    return None


def subscription_signing_key(settings: Settings) -> str | None:
    """The ``signing_key`` to send when subscribing: ours with a personal token; none with
    OAuth, whose subscriptions Calendly signs with the app's generated key."""
    return settings.signing_key if kind(settings) == PERSONAL else None
