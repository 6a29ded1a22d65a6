"""The baseline for the intake benchmark: a Flask app that only reads the body and
answers 200 (served by the same gunicorn configuration as the relay)."""

from flask import Flask, request

app = Flask("bare")


@app.post("/webhooks/calendly")
def receive():
    request.get_data()
    return "", 200


@app.get("/healthz")
def healthz():
    return "ok"
