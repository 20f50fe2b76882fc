"""Metrics are served on a port of their own, which the load balancer never routes: however a
path is spelled on the service's port, it cannot reach them."""

from __future__ import annotations

import httpx
import pytest

from betfuz_testing.processes import free_port, running
from betfuz_testing.tokens import TEST_JWT_SECRET

pytestmark = pytest.mark.e2e


def test_metrics_answer_on_the_metrics_port_and_nowhere_on_the_service_port(
    database_url: str,
) -> None:
    metrics_port = free_port()
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "METRICS_PORT": str(metrics_port),
        "LOG_LEVEL": "WARNING",
    }
    with running("treasury", env=env) as base:
        httpx.get(base + "/treasury/health", timeout=5)
        spelled = [
            httpx.get(base + path, timeout=5).status_code
            for path in ("/metrics", "/treasury/metrics", "/treasury/%6Detrics", "/%6Detrics")
        ]
        page = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
    assert spelled == [404, 404, 404, 404]
    assert page.status_code == 200
    assert 'http_requests_total{method="GET",route="/treasury/health"' in page.text.replace(
        'service="treasury",', ""
    )
