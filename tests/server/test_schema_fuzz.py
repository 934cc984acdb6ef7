"""Schemathesis over the published OpenAPI schema: whatever it sends, no 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from responses_harness import RunningServer
from schemathesis.checks import not_a_server_error

from threadline.server.responses import openapi_schema

pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_dict(openapi_schema())


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_the_server_fail(case: schemathesis.Case, server: RunningServer) -> None:
    response = case.call(base_url=server.origin, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])


def test_the_published_schema_is_the_one_fuzzed(server: RunningServer) -> None:
    import httpx

    assert httpx.get(f"{server.origin}/openapi.json").json() == openapi_schema()
