"""A scripted stand-in for the Responses API on 127.0.0.1, slow on purpose, to drive the real ``codex``.

The script is one short agentic turn: the model thinks, runs ``echo`` through
``exec_command``, then answers. Every streamed output item is delayed by
``delay_s`` so Codex writes its trace over a few seconds — long enough for a
follower to watch it grow.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

FINAL_ANSWER = "Followed to the end: the shell said hello."


def _plan(request: dict[str, Any]) -> list[dict[str, Any]]:
    outputs = [item for item in request.get("input", []) if item.get("type") == "function_call_output"]
    if not outputs:
        return [
            {
                "type": "reasoning",
                "id": "rs_follow",
                "summary": [{"type": "summary_text", "text": "Run a command first."}],
                "encrypted_content": "opaque",
            },
            {
                "type": "function_call",
                "id": "fc_follow",
                "call_id": "call_echo",
                "name": "exec_command",
                "arguments": json.dumps({"cmd": "echo hello"}),
            },
        ]
    return [
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_follow",
            "content": [{"type": "output_text", "text": FINAL_ANSWER}],
        }
    ]


class MockModel:
    """Serves in a background thread; ``base_url`` goes into Codex's provider config."""

    def __init__(self, delay_s: float = 0.5) -> None:
        self.delay_s = delay_s
        self.requests = 0
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._json(200, {"data": [], "models": []})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                try:
                    request = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    request = {}
                model.requests += 1
                if not self.path.rstrip("/").endswith("/responses"):
                    self._json(404, {"error": {"message": "not scripted", "type": "invalid_request_error"}})
                    return
                response_id = f"resp_{model.requests}"
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()

                def emit(event: dict[str, Any]) -> None:
                    self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()

                emit({"type": "response.created", "response": {"id": response_id}})
                for item in _plan(request):
                    threading.Event().wait(model.delay_s)
                    emit({"type": "response.output_item.added", "item": item})
                    emit({"type": "response.output_item.done", "item": item})
                usage = {
                    "input_tokens": 120,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": 12,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": 132,
                }
                emit({"type": "response.completed", "response": {"id": response_id, "usage": usage}})
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="mock-model", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def codex_config(base_url: str) -> str:
    """``config.toml`` for a throwaway CODEX_HOME: the mock provider, no approvals, no retries."""
    return f"""model = "gpt-5"
model_provider = "mock"
approval_policy = "never"
sandbox_mode = "danger-full-access"
[model_providers.mock]
name = "mock"
base_url = "{base_url}"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"""
