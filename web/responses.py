"""Every refusal the web process makes has the same JSON shape."""

from flask import jsonify


def error_response(status: int, code: str, message: str):
    """``{"error": <stable code>, "message": <what was wrong>}`` with ``status``."""
    return jsonify(error=code, message=message), status
