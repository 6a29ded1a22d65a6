# calendly-relay: one image for the three processes (web, worker, scheduler).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 10001 relay

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

COPY README.md Procfile ./
COPY shared ./shared
COPY web ./web
COPY worker ./worker
RUN pip install --no-deps . && chown -R relay /app

USER relay
ENV PORT=8000
EXPOSE 8000
# The web process by default; compose and platforms give each process its own command.
CMD ["gunicorn", "-c", "python:web.gunicorn_config", "web.wsgi:app"]
