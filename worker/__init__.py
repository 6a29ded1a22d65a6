"""Everything that runs later or calls the outside world: the jobs, applying a delivery and
the booking lifecycle, messages, the SMS and CRM providers, and the ``relay`` command."""
