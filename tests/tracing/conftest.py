"""Tracing tests run on SQLite files and on the PostgreSQL server, each on a fresh database,
with the OpenTelemetry SDK's in-memory span exporter and metric reader (nothing is mocked)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from backends import BACKENDS, Backend
from eventledger import EventStore
from eventledger.tracing import OtelMetrics, Tracing


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """SQLite and PostgreSQL in turn, each on a fresh database of its own."""
    made = BACKENDS[request.param](tmp_path)
    yield made
    await made.close()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[EventStore]:
    opened = await backend.open()
    yield opened
    await opened.close()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    # A provider of the test's own, never the global one: tests cannot see each other's spans.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def tracing(tracer_provider: TracerProvider) -> Tracing:
    return Tracing(tracer_provider)


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def otel_metrics(metric_reader: InMemoryMetricReader) -> Iterator[OtelMetrics]:
    provider = MeterProvider(metric_readers=[metric_reader])
    yield OtelMetrics(provider)
    provider.shutdown()
