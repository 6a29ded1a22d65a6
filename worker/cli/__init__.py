"""The ``relay`` command (click, as Flask and rq build theirs): ``relay --help`` lists the
commands, each has its own ``--help``, and click's shell completion works
(``eval "$(_RELAY_COMPLETE=bash_source relay)"``).

    processes (worker/cli/processes.py)  dev, worker, scheduler, release
    Calendly (worker/cli/calendly.py)    webhooks, backfill, event-types, links
    operators (worker/cli/operations.py) reminders, failed, deliveries, config, crm
    messages (worker/cli/messages.py)    messages (the ledger), optouts
    simulate (worker/cli/simulate.py)    a signed Calendly delivery to a running receiver

A command gets the settings and Redis from one place, the ``Relay`` object click hands it
(``@pass_relay``, worker/cli/context.py), made on first use. Exit statuses: 0 done, 1 a problem the command
found or met (Calendly refused, a job unknown), 2 a configuration error naming the
variable (or a usage error).
"""

from __future__ import annotations

import sys

import click

from shared.errors import ConfigError
from worker.cli import calendly, messages, operations, processes, simulate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def relay() -> None:
    """calendly-relay: Calendly → SMS and CRM."""


def main(argv: list[str] | None = None) -> int:
    """The console script ``relay`` (pyproject's [project.scripts]); tests call it with
    arguments and read the exit status."""
    from shared.calendly.client import CalendlyError
    from shared.redis_conn import certificate_refusal

    try:
        status = relay.main(args=argv, prog_name="relay", standalone_mode=False)
    except click.ClickException as error:  # a usage error: click says what, exit 2
        error.show()
        return error.exit_code
    except click.Abort:
        return 1
    except ConfigError as error:
        print(f"calendly-relay: configuration error: {error}", file=sys.stderr)
        return 2
    except CalendlyError as error:  # Calendly's refusals are an operator's to read, not a traceback
        print(f"relay: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        # Any command's first Redis call can meet a certificate it cannot verify: that is
        # REDIS_SSL_CERT_REQS to set, said as such rather than as a traceback.
        refusal = certificate_refusal(error)
        if refusal is None:
            raise
        print(f"calendly-relay: configuration error: {refusal}", file=sys.stderr)
        return 2
    return status or 0


for _module in (processes, calendly, operations, messages, simulate):
    for _command in _module.COMMANDS:
        relay.add_command(_command)
