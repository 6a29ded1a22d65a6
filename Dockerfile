# calendly-relay: one image for the three processes (web, worker, scheduler).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 10001 relay

# Dependencies first, in their own layer: it is rebuilt only when the lock changes. The
# runtime lock pins every package (python3 tasks.py lock), so the image runs the versions
# the tests ran on, not whatever the ranges in pyproject.toml resolve to today.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY pyproject.toml README.md Procfile ./
COPY shared ./shared
COPY web ./web
COPY worker ./worker
RUN pip install --no-deps . && chown -R relay /app

USER relay
ENV PORT=8000
EXPOSE 8000
# The web process by default; compose and platforms give each process its own command.
CMD ["gunicorn", "-c", "python:web.gunicorn_config", "web.wsgi:app"]
