# calendly-relay: one image for the three processes (web, worker, scheduler).

# The project's wheel is built in a stage of its own: setuptools leaves build/ and an
# .egg-info beside the sources it builds, and none of that (nor the sources) belongs in
# the image. Only the wheel crosses over.
FROM python:3.11-slim AS wheel
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY web ./web
COPY worker ./worker
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 relay \
 && mkdir /app && chown relay /app
WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when the lock changes. The
# runtime lock pins every package (python3 tasks.py lock), so the image runs the versions
# the tests ran on, not whatever the ranges in pyproject.toml resolve to today.
COPY requirements.lock /tmp/requirements.lock
RUN pip install -r /tmp/requirements.lock && rm /tmp/requirements.lock

# The project itself adds no dependency (all are in the lock): its wheel alone.
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels

USER relay
ENV PORT=8000
EXPOSE 8000
# The web process by default; compose and platforms give each process its own command.
CMD ["gunicorn", "-c", "python:web.gunicorn_config", "web.wsgi:app"]
