"""Everything that runs later or calls the outside world: jobs, the booking lifecycle,
and the SMS and CRM backends."""
