"""A tiny relying party for the browser test: it only shows what the provider sent back.

GET /callback  shows the query (code, state, iss, or error) on a page, so it is in the screenshot
POST /callback shows the form body the same way (response_mode=form_post), titled "RP callback (POST)"
GET /bye       the post-logout landing page (shows `state`)
GET /          "rp up" (the script polls it)

Usage: python3 tests/browser/rp.py --port PORT
"""

import argparse
import html
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


def page(title: str, pairs: list[tuple[str, str]]) -> bytes:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(v)}</code></td></tr>" for k, v in pairs
    )
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1 id=\"title\">{html.escape(title)}</h1><table id=\"params\">{rows}</table></body></html>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        pairs = parse_qsl(url.query, keep_blank_values=True)
        if url.path == "/callback":
            body, status = page("RP callback", pairs), 200
        elif url.path == "/bye":
            body, status = page("RP: signed out", pairs), 200
        elif url.path == "/":
            body, status = b"rp up\n", 200
        else:
            body, status = page("RP: not found", []), 404
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = self.rfile.read(length).decode("utf-8", "replace")
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if url.path == "/callback" and content_type == "application/x-www-form-urlencoded":
            body, status = page("RP callback (POST)", parse_qsl(form, keep_blank_values=True)), 200
        elif url.path == "/callback":
            body, status = page("RP: not a form", [("content-type", content_type)]), 415
        else:
            body, status = page("RP: not found", []), 404
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args) -> None:
        print("rp:", fmt % args, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
