"""Every refusal the web process makes has the same JSON shape; and the app's shared objects."""

from flask import current_app, jsonify


def relay() -> dict:
    """What create_app shares with every route: settings, redis, intake."""
    return current_app.extensions["relay"]


def error_response(status: int, code: str, message: str):
    """``{"error": <stable code>, "message": <what was wrong>}`` with ``status``."""
    return jsonify(error=code, message=message), status
