"""``anonymizer key init`` against the documented Secrets API, served by a local HTTP server.

The real Databricks SDK talks to 127.0.0.1 exactly as it would to a workspace: ``GET /api/2.0/secrets/list``
then ``POST /api/2.0/secrets/put`` (https://docs.databricks.com/api/workspace/secrets). The server keeps the
scope's secrets, records every request, and answers errors in the API's shape (``error_code``, ``message``),
so the tests assert what goes over the wire: the request bodies, the bearer token, that nothing is written
when the key exists, and that the value is never printed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from anonymizer import cli
from anonymizer.keys import decode_key_text

TOKEN = "dapi-test-token-for-the-local-server"


@dataclass
class SecretsServer:
    """The Secrets API subset key init uses; ``scopes`` maps scope -> {key: string_value}."""

    scopes: dict[str, dict[str, str]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any], str]] = field(default_factory=list)
    deny_put: bool = False
    url: str = ""


def _handler(state: SecretsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            return

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            state.requests.append(("GET", url.path, query, self.headers.get("Authorization", "")))
            if url.path != "/api/2.0/secrets/list":
                self._reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": url.path})
            elif query.get("scope") not in state.scopes:
                self._reply(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Scope does not exist"})
            else:
                keys = state.scopes[query["scope"]]
                self._reply(200, {"secrets": [{"key": k, "last_updated_timestamp": 1} for k in sorted(keys)]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append(("POST", self.path, body, self.headers.get("Authorization", "")))
            if self.path != "/api/2.0/secrets/put":
                self._reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": self.path})
            elif state.deny_put:
                self._reply(403, {"error_code": "PERMISSION_DENIED", "message": "User has no WRITE"})
            elif body.get("scope") not in state.scopes:
                self._reply(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Scope does not exist"})
            else:
                state.scopes[body["scope"]][body["key"]] = body["string_value"]
                self._reply(200, {})

    return Handler


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[SecretsServer]:
    state = SecretsServer(scopes={"anonymizer": {}})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    for name in list(__import__("os").environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def _run(server: SecretsServer, *extra: str) -> int:
    return cli.main(["key", "init", "--host", server.url, "--scope", "anonymizer", "--key", "k", *extra])


def _puts(server: SecretsServer) -> list[dict[str, Any]]:
    return [body for method, path, body, _ in server.requests if (method, path) == ("POST", "/api/2.0/secrets/put")]


def test_writes_32_random_bytes_once_and_never_prints_them(
    server: SecretsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(server) == 0
    [put] = _puts(server)
    assert set(put) == {"scope", "key", "string_value"}, "the documented request shape, nothing else"
    assert (put["scope"], put["key"]) == ("anonymizer", "k")
    assert len(decode_key_text(put["string_value"])) == 32, "the job must read back exactly 32 bytes"
    # The SDK may first ask /.well-known/databricks-config (host metadata); the API calls are what matter.
    api = [r for r in server.requests if r[1].startswith("/api/")]
    assert [r[:3] for r in api] == [
        ("GET", "/api/2.0/secrets/list", {"scope": "anonymizer"}),
        ("POST", "/api/2.0/secrets/put", put),
    ]
    assert all(auth == f"Bearer {TOKEN}" for *_, auth in api)
    out = capsys.readouterr()
    assert "written" in out.out
    assert put["string_value"] not in out.out + out.err


def test_idempotent_without_rotate(server: SecretsServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(server) == 0
    first = server.scopes["anonymizer"]["k"]
    assert _run(server) == 0
    assert len(_puts(server)) == 1, "an existing key must never be overwritten without --rotate"
    assert server.scopes["anonymizer"]["k"] == first
    assert "already exists" in capsys.readouterr().out


def test_rotate_replaces_the_key_with_a_new_one(server: SecretsServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(server) == 0
    first = server.scopes["anonymizer"]["k"]
    assert _run(server, "--rotate") == 0
    assert len(_puts(server)) == 2
    assert server.scopes["anonymizer"]["k"] != first
    assert "--rotate-key" in capsys.readouterr().out


def test_missing_scope_is_a_usage_error_and_writes_nothing(
    server: SecretsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.scopes.clear()
    assert _run(server) == 2
    assert _puts(server) == []
    assert "does not exist" in capsys.readouterr().err


def test_permission_denied_names_the_fix(server: SecretsServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.deny_put = True
    assert _run(server) == 2
    err = capsys.readouterr().err
    assert "no permission to write" in err and "WRITE or MANAGE" in err
    assert server.scopes["anonymizer"] == {}


def test_names_are_validated_before_any_request(server: SecretsServer) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["key", "init", "--host", server.url, "--scope", "bad scope", "--key", "k"])
    assert exc.value.code == 2
    assert [r for r in server.requests if r[1].startswith("/api/")] == []
