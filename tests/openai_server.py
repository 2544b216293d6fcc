"""A real HTTP server on 127.0.0.1 that speaks OpenAI's chat-completions protocol, scripted.

No language model can run here, so this peer stands in for one: it answers POST
/v1/chat/completions exactly as the protocol says, with whatever each test scripts (a good
answer, phantom citations, a 429, a stall, garbage), and records the requests it got.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.sites import serve


@dataclass
class Reply:
    """One scripted reply: a message, an HTTP status, a stall, or raw bytes."""

    content: str | Callable[[str], str] | None = None  # a callable gets the prompt
    status: int = 200
    delay: float = 0.0
    raw: bytes | None = None
    # When streaming: after ``fault_after`` chunks (counted from the end when negative),
    # "cut" the connection, "stall" for 30 s, or send "garbage" that is not a JSON chunk.
    stream_fault: str | None = None
    fault_after: int = 3


@dataclass
class ScriptedModel:
    """Replies in order (the last one repeats) and the requests received."""

    replies: list[Reply] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)

    def next(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def completion(content: str, model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
    ).encode()


def chunk(piece: str, finish: str | None = None) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "test",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": finish}],
        }
    )


@contextmanager
def openai_server(model: ScriptedModel) -> Iterator[str]:
    """Serve the scripted model; yield its base URL (ending in /v1)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            model.requests.append(body)
            if self.path != "/v1/chat/completions":
                return self._send(404, b'{"error": {"message": "not found"}}')
            reply = model.next()
            if reply.delay:
                time.sleep(reply.delay)
            if reply.raw is not None:
                return self._send(reply.status, reply.raw)
            if reply.status != 200:
                error = {"error": {"message": "scripted failure", "type": "test"}}
                return self._send(reply.status, json.dumps(error).encode())
            content = reply.content
            if callable(content):
                content = content(body["messages"][-1]["content"])
            if body.get("stream"):
                return self._stream(content or "", reply)
            return self._send(200, completion(content or "", body.get("model", "")))

        def _stream(self, content: str, reply: Reply) -> None:
            """Send ``content`` as chat.completion.chunk events, a word at a time."""
            pieces = re.findall(r"\S+\s*", content)
            fault_at = reply.fault_after % len(pieces) if pieces else 0
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i, piece in enumerate(pieces):
                    if reply.stream_fault and i == fault_at:
                        if reply.stream_fault == "stall":
                            time.sleep(30)
                        elif reply.stream_fault == "garbage":
                            self.wfile.write(b"data: {this is not json\n\n")
                            self.wfile.flush()
                        return  # "cut": the connection closes mid-answer
                    self.wfile.write(b"data: " + chunk(piece).encode() + b"\n\n")
                    self.wfile.flush()
                self.wfile.write(b"data: " + chunk("", finish="stop").encode() + b"\n\n")
                self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _send(self, status: int, data: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    with serve(Handler) as base:  # type: ignore[arg-type]
        yield f"{base}/v1"
