"""A webhook receiver that prints Alertmanager notifications, one JSON line per alert.

The local stack's stand-in for a pager or a ticket queue (the `alert-sink` service of
docker-compose.yml): `docker compose logs -f alert-sink` shows what would have been sent.
The path names the channel: Alertmanager posts pages to /page and tickets to /ticket.

    python deploy/alertmanager/webhook_sink.py [--host 0.0.0.0] [--port 9095]

Standard library only, so it runs in a bare python image.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def summarize(channel: str, payload: dict) -> list[dict]:
    """One line per alert of an Alertmanager webhook payload (version 4)."""
    lines = []
    for alert in payload.get("alerts", []):
        labels = alert.get("labels", {})
        annotations = alert.get("annotations", {})
        lines.append(
            {
                "channel": channel,
                "status": alert.get("status"),
                "alertname": labels.get("alertname"),
                "severity": labels.get("severity"),
                "summary": annotations.get("summary"),
                "runbook_url": annotations.get("runbook_url"),
                "labels": labels,
                "startsAt": alert.get("startsAt"),
                "endsAt": alert.get("endsAt"),
            }
        )
    return lines


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_error(400, "body is not JSON")
            return
        channel = self.path.strip("/") or "default"
        for line in summarize(channel, payload):
            print(json.dumps(line, sort_keys=True), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # a liveness check for humans: curl the sink
        body = b"alert-sink: POST Alertmanager webhooks here\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the notifications are the log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=9095)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"alert-sink listening on {args.host}:{server.server_address[1]}", flush=True)
    # As PID 1 in a container a signal with no handler is ignored: exit on SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
