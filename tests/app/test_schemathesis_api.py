"""schemathesis over the whole OpenAPI of a running service (real uvicorn on loopback, demo
model): generated requests, valid and not, must never get a 5xx or a status code the OpenAPI
does not list, and every answer must match its documented schema and media type.

schemathesis comes from PyPI (the `test` extra); Debian bookworm has no package of it, so in
the bookworm environment this module is skipped and the main CI environment runs it.
"""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is a PyPI-only test tool (pip install '.[test]'); "
                           "Debian bookworm has no python3-schemathesis")
hypothesis = pytest.importorskip("hypothesis")

from schemathesis import checks  # noqa: E402

from attack_server import DEMO_MODEL  # noqa: E402
from serving import engine_up, running_service, wait_for  # noqa: E402

STREAMING = ("/stream.mjpg",)  # never ends: no single answer to check
EXAMPLES = 30  # per operation and generation mode


def openapi() -> dict:
    """The OpenAPI document, as the app builds it (nothing is started for this)."""
    from app.api import create_app
    from app.api.port import ServerSettings
    from app.config import load_config
    from app.service import Service

    config = load_config(env={})
    return create_app(Service(config, DEMO_MODEL), ServerSettings.from_config(config)).openapi()


schema = schemathesis.openapi.from_dict(openapi())
schema.config.generation.update(modes=list(schemathesis.GenerationMode))  # valid and invalid
for _path in STREAMING:
    schema = schema.exclude(path=_path)


@pytest.fixture(scope="module")
def service_url():
    # the rate limit is opened wide so that generated uploads reach the decoder
    with running_service(DEMO_MODEL, server_uploads_per_minute=6000) as run:
        engine_up(run)
        wait_for(lambda: run.service.hub.latest is not None)
        wait_for(lambda: run.service.preview.jpeg() is not None)
        yield run.base


@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_no_server_error_and_no_undocumented_answer(case, service_url):
    case.call_and_validate(base_url=service_url,
                           checks=[checks.not_a_server_error, checks.status_code_conformance,
                                   checks.content_type_conformance,
                                   checks.response_schema_conformance])
