"""CRM backends, one module per provider: ``log`` (development) and ``brevo``
(worker/providers.py finds them by CRM_BACKEND; ``off`` is none)."""

from worker.crm.base import ContactUpdate, CrmBackend

__all__ = ["ContactUpdate", "CrmBackend"]
