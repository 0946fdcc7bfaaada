#!/usr/bin/python3
"""A tiny sample backend for the nginx recipe: answers every GET with what
it was told about the caller, as JSON, and appends one line per request it
saw to the file named by --log (so a test can tell that refused requests
never got here).

    backend.py PORT [--log FILE]
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    log_file = None

    def do_GET(self):
        seen = {k: v for k, v in self.headers.items() if k.lower().startswith("x-gatehouse-")}
        body = json.dumps({"path": self.path, "user_id": self.headers.get("X-Gatehouse-User-Id"),
                           "gatehouse_headers": seen}).encode()
        if self.log_file:
            with open(self.log_file, "a") as f:
                f.write(json.dumps({"path": self.path, "headers": seen}) + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main(argv):
    if len(argv) < 2 or argv[1] == "--help":
        print(__doc__.strip())
        return 0 if len(argv) > 1 else 2
    if "--log" in argv:
        Handler.log_file = argv[argv.index("--log") + 1]
    ThreadingHTTPServer(("127.0.0.1", int(argv[1])), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
