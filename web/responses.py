"""Every refusal the web process makes has the same JSON shape; and the app's shared objects."""

import json

from flask import current_app, jsonify


def relay() -> dict:
    """What create_app shares with every route: settings, redis, intake."""
    return current_app.extensions["relay"]


def error_response(status: int, code: str, message: str):
    """``{"error": <stable code>, "message": <what was wrong>}`` with ``status``."""
    return jsonify(error=code, message=message), status


NO_STORE_ITEMS = (("Cache-Control", "no-store"),)


def no_store(response):
    """After every request of an admin surface (admin, its messages, OAuth, metrics): their
    pages show (masked) bookings and failures, and must not be kept by a shared cache or
    shown again from the browser's history after signing out. Registered on each of those
    blueprints, so the receiver's requests don't pay for the hook."""
    response.headers.extend(NO_STORE_ITEMS)
    return response


def accepted_response(**fields: str):
    """A small JSON answer of plain strings, built without Flask's JSON provider: the
    receiver's hot path answers every delivery so, and jsonify (provider lookup, sorting,
    its own Response subclass call) cost about 4% of a delivery (bench/RESULTS.md)."""
    return current_app.response_class(json.dumps(fields, separators=(",", ":")) + "\n", status=200,
                                      mimetype="application/json")
