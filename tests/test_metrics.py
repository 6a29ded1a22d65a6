"""/metrics: Prometheus text, behind the admin token, figures shared through Redis."""

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared import stats
from shared.calendly import samples
from shared.settings import Settings
from tests.helpers import SIGNING_KEY, WEBHOOK, post_delivery, run_jobs, signed_headers
from web.app import create_app

ADMIN = "metrics-admin-token"


@pytest.fixture
def web(conn):
    return create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client()


def scrape(web):
    response = web.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples_by_name = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples_by_name.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples_by_name


def value(metrics, name, **labels):
    return sum(v for l, v in metrics.get(name, []) if all(l.get(k) == x for k, x in labels.items()))


def test_token_required_unless_public(conn):
    closed = create_app(Settings(signing_key=SIGNING_KEY, admin_token=ADMIN), redis_client=conn).test_client()
    assert closed.get("/metrics").status_code == 401
    assert closed.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    public = create_app(Settings(signing_key=SIGNING_KEY, metrics_public=True), redis_client=conn).test_client()
    assert public.get("/metrics").status_code == 200


def test_deliveries_rejections_messages_and_queues(web, conn):
    envelope = samples.envelope("invitee.created", samples.invitee_payload())
    post_delivery(web, envelope)
    post_delivery(web, envelope)
    raw = samples.body(envelope)
    web.post(WEBHOOK, data=raw, headers=signed_headers(raw, timestamp=int(time.time()) - 30 * 3600))
    web.post(WEBHOOK, data=raw)
    web.post(WEBHOOK, data=b"[]", headers=signed_headers(b"[]"))
    metrics = scrape(web)
    assert value(metrics, "relay_deliveries_total", outcome="accepted") == 1
    assert value(metrics, "relay_deliveries_total", outcome="duplicate") == 1
    assert value(metrics, "relay_deliveries_total", outcome="rejected_signature") == 2
    assert value(metrics, "relay_deliveries_total", outcome="rejected_invalid") == 1
    assert value(metrics, "relay_signature_rejections_total", reason="too_old") == 1
    assert value(metrics, "relay_signature_rejections_total", reason="missing_header") == 1
    assert value(metrics, "relay_queue_depth", queue="events") == 1
    run_jobs(conn)
    metrics = scrape(web)
    assert value(metrics, "relay_queue_depth") == 0
    assert value(metrics, "relay_sms_total", kind="confirm", outcome="sent") == 1
    assert value(metrics, "relay_sms_total", kind="host_notify", outcome="skipped", reason="no_host_phone") == 1
    assert value(metrics, "relay_crm_total", outcome="synced") == 1
    assert value(metrics, "relay_scheduled_jobs") == 3


def test_counts_from_other_processes_and_the_lateness_histogram(web, conn):
    stats.count(conn, "sms", "reminder", "failed", "4001")  # as a worker elsewhere would
    for lateness in (0.2, 0.7, 1.5, 400):
        stats.observe(conn, "reminder_lateness", lateness)
    metrics = scrape(web)
    assert value(metrics, "relay_sms_total", kind="reminder", outcome="failed", reason="4001") == 1
    buckets = dict((l["le"], v) for l, v in metrics["relay_reminder_lateness_seconds_bucket"])
    assert (buckets["0.5"], buckets["1.0"], buckets["2.0"], buckets["300.0"], buckets["+Inf"]) == (1, 2, 3, 3, 4)
    assert metrics["relay_reminder_lateness_seconds_count"][0][1] == 4
