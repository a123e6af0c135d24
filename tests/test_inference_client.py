"""The OpenAI client in inference.py against a real loopback server that injects faults.

    .venv/bin/python -m pytest -q tests/test_inference_client.py

Each fault is real: a 429 with a Retry-After header, a 500, a reply slower than the read timeout,
a connection closed without a reply, a truncated JSON body.
"""
from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from inference import (Client, RequestFailed, ServerUnusable, _retry_after_seconds, normalize_base_url)
from tests.servers import closed_port_url, humaneval_problems, running_server

PROBLEMS = humaneval_problems(3)


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def ask(client: Client):
    return client.chat("reference", [{"role": "user", "content": PROBLEMS[0].problem}], temperature=0)


def make_client(url: str, **kw) -> Client:
    kw.setdefault("backoff_base", 0.01)
    return Client([url], concurrency=4, **kw)


def test_429_is_retried_after_the_servers_retry_after():
    with running_server(PROBLEMS, schedule=["429", "429"], retry_after=0.3) as server:
        client = make_client(server.base_url)
        started = time.monotonic()
        data, _ = ask(client)
        elapsed = time.monotonic() - started
    assert "def has_close_elements" in data["choices"][0]["message"]["content"]
    assert elapsed >= 0.6  # two waits of Retry-After: 0.3, not the 0.01 s backoff
    assert server.stats["fault_429"] == 2 and server.stats["answered"] == 1
    assert client.stats.retries == 2 and client.stats.failures == {"http_429": 2}


def test_500_every_time_gives_up_after_max_attempts_and_names_the_cause():
    with running_server(PROBLEMS, schedule=["500"] * 10) as server:
        client = make_client(server.base_url, max_attempts=5)
        with pytest.raises(RequestFailed, match=r"gave up after 5 attempts; last error http_500"):
            ask(client)
    assert server.stats["completion_requests"] == 5
    assert client.stats.requests == 5 and client.stats.retries == 4


def test_500_then_success():
    with running_server(PROBLEMS, schedule=["500", "500"]) as server:
        client = make_client(server.base_url)
        ask(client)
    assert client.stats.failures == {"http_500": 2}


def test_reply_slower_than_read_timeout_is_retried():
    with running_server(PROBLEMS, schedule=["slow"], slow_seconds=1.5) as server:
        client = make_client(server.base_url, read_timeout=0.3)
        started = time.monotonic()
        ask(client)
        assert time.monotonic() - started < 1.5  # did not wait for the slow reply
    assert client.stats.failures == {"read_timeout": 1}


def test_dropped_connection_is_retried():
    with running_server(PROBLEMS, schedule=["drop"]) as server:
        client = make_client(server.base_url)
        ask(client)
    assert client.stats.failures == {"connection": 1} and server.stats["fault_drop"] == 1


def test_malformed_json_is_retried():
    with running_server(PROBLEMS, schedule=["malformed"]) as server:
        client = make_client(server.base_url)
        data, _ = ask(client)
    assert client.stats.failures == {"malformed_json": 1}
    assert data["choices"][0]["finish_reason"] == "stop"


def test_400_fails_at_once_with_the_servers_message():
    with running_server(PROBLEMS) as server:
        client = make_client(server.base_url)
        with pytest.raises(RequestFailed, match=r"HTTP 400: 'messages' must be a non-empty list"):
            client.chat("reference", [])
    assert client.stats.requests == 1 and client.stats.retries == 0


def test_404_means_the_server_is_unusable():
    with running_server(PROBLEMS) as server:
        client = make_client(server.base_url.replace("/v1", "/v2"))
        with pytest.raises(ServerUnusable, match="HTTP 404"):
            ask(client)


def test_check_names_the_url_and_how_to_start_a_server_when_nothing_answers():
    url = closed_port_url()
    started = time.monotonic()
    with pytest.raises(ServerUnusable) as info:
        make_client(url).check()
    assert time.monotonic() - started < 3
    assert url in str(info.value) and "vllm serve" in str(info.value)


def test_check_lists_the_served_models():
    with running_server(PROBLEMS) as server:
        assert make_client(server.base_url).check() == ["reference"]


def test_requests_are_balanced_over_several_base_urls():
    with running_server(PROBLEMS) as a, running_server(PROBLEMS) as b:
        client = Client([a.base_url, b.base_url], concurrency=2)
        for _ in range(6):
            ask(client)
    assert a.stats["answered"] == 3 and b.stats["answered"] == 3


def test_a_dead_replica_is_routed_around_by_the_retry():
    with running_server(PROBLEMS) as live:
        client = Client([closed_port_url(), live.base_url], concurrency=2, backoff_base=0.01)
        for _ in range(4):
            ask(client)
    assert live.stats["answered"] == 4 and client.stats.failures.get("connection", 0) >= 1


def test_usage_and_latency_are_accounted():
    with running_server(PROBLEMS, latency=0.05) as server:
        client = make_client(server.base_url)
        data, seconds = ask(client)
        client.stats.success(seconds, data["usage"], ["stop"])
    summary = client.stats.summary()
    assert seconds >= 0.05 and summary["latency_p50"] >= 0.05
    assert summary["completion_tokens"] == data["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("value,expected", [("2", 2.0), ("0.5", 0.5), ("", None), (None, None), ("soon", None)])
def test_retry_after_seconds(value, expected):
    assert _retry_after_seconds(value) == expected


def test_retry_after_http_date():
    assert 8 <= _retry_after_seconds(formatdate(time.time() + 10, usegmt=True)) <= 10


@pytest.mark.parametrize("url,expected", [
    ("http://localhost:8000", "http://localhost:8000/v1"),
    ("http://localhost:8000/", "http://localhost:8000/v1"),
    ("http://localhost:8000/v1/", "http://localhost:8000/v1"),
    ("https://api.together.xyz/v1", "https://api.together.xyz/v1"),
    ("https://example.com/openai/v1", "https://example.com/openai/v1"),
])
def test_normalize_base_url(url, expected):
    assert normalize_base_url(url) == expected


def test_base_url_without_scheme_is_refused():
    with pytest.raises(ValueError, match="http://"):
        normalize_base_url("localhost:8000")
