"""schemathesis over FastAPI's own OpenAPI document: no 5xx anywhere, every 4xx a problem.

Bounded: a few valid and a few invalid examples per operation, derandomised so a run is
repeatable (the whole file takes well under two minutes). Requests carry an admin key so that
fuzzed input reaches past the role checks into the domains. Every failing operation is
collected, so one run reports them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Err
from sqlalchemy import Engine

from service.main import create_app
from service.settings import Settings

# Fuzzing every operation takes about a minute: outside the fast loop (-m 'not slow').
pytestmark = pytest.mark.slow

MAX_EXAMPLES = 10
PROBLEM_TYPES = ("application/problem+json",)


def _fuzz_app(settings_: Settings, engine: Engine) -> FastAPI:
    api = settings_.api.model_copy(update={"write_rate_per_minute": 1_000_000})
    return create_app(settings_.model_copy(update={"api": api}), engine=engine)


def _problems_in(case: schemathesis.Case, response: schemathesis.Response) -> str | None:
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
    if response.status_code >= 500:
        return where
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])[0]
        if not content_type.startswith(PROBLEM_TYPES):
            return f"{where} (content-type {content_type!r})"
        body = response.json()
        if body.get("status") != response.status_code or not body.get("detail"):
            return f"{where} (not a problem document)"
    return None


def test_no_server_errors_and_every_4xx_is_a_problem(
    settings: Settings, clean_db: Engine, auth_headers: Callable[[str], dict[str, str]]
) -> None:
    app = _fuzz_app(settings, clean_db)
    admin = auth_headers("admin")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    timings: dict[str, float] = {}
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation of our own schema that could not be processed
        operation = result.ok()
        operations += 1
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case: schemathesis.Case) -> None:
                problem = _problems_in(case, case.call(headers=admin))
                assert problem is None, problem

            started = time.perf_counter()
            try:
                run()
            except AssertionError as exc:
                failures.setdefault(operation.label, str(exc).splitlines()[0])
            except Unsatisfiable:
                # No invalid input exists (an operation without parameters or body).
                assert mode is schemathesis.GenerationMode.NEGATIVE
            timings[f"{operation.label} {mode.value}"] = time.perf_counter() - started
    slowest = sorted(timings.items(), key=lambda kv: -kv[1])[:5]
    print("slowest operations:", [(k, round(v, 1)) for k, v in slowest])
    assert operations > 0
    assert not failures, "\n".join(f"{k}: {v}" for k, v in sorted(failures.items()))
