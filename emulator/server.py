"""AWS emulator for ptc-rollout tests: moto's multi-service server plus what moto lacks.

    python3 emulator/server.py [--port 0] [--host 127.0.0.1] [--seed demo|none]
                               [--valid-token TOKEN ...] [--exit-on-stdin-eof] [--verbose]

Prints exactly one line to stdout, `listening on http://HOST:PORT`, once the
socket is bound; everything else (logs) goes to stderr. On top of moto it adds
the ECR pull through cache operations (ptc.py), repository creation
templates (templates.py), AssumeRole refusals and session limits
(sts_guard.py), Secrets Manager fixes (secrets_guard.py), opt-in Regions and
Account Management GetRegionOptStatus (regions.py), a call log with Region
opt-in refusals and fault injection (middleware.py), a control
API under /_ptc/ (control.py), and a Registry HTTP API v2 under /_registry/
that pulls through the cache from a simulated GitLab.com (registry.py,
pullthrough.py, permissions.py, upstream.py) and redirects blob downloads to
presigned URLs of an S3 layer bucket under /_s3/ (blobs.py, s3.py), and
GitLab's REST API for group access tokens and CI/CD variables under
/_gitlab/api/v4/ (gitlab.py), whose active tokens are exactly those ECR's
validation accepts.
"""

import argparse
import ipaddress
import logging
import os
import re
import signal
import sys
import threading

# Account attribution depends on AssumeRole keys mapping to accounts, which moto
# bypasses when MOTO_ACCOUNT_ID is set: make sure it is not.
os.environ.pop("MOTO_ACCOUNT_ID", None)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

from moto.core.utils import get_service_model  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: E402

import control  # noqa: E402
import permissions  # noqa: E402
import ptc  # noqa: E402
import regions  # noqa: E402
import registry  # noqa: E402
import secrets_guard  # noqa: E402
import sts_guard  # noqa: E402
import templates  # noqa: E402
from emustate import STATE  # noqa: E402
from middleware import PtcMiddleware  # noqa: E402

# The services the tool drives: built up front so first calls are not slow.
WARM_SERVICES = ("ecr", "sts", "organizations", "secretsmanager", "account")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port, 0 for a free one (default)")
    p.add_argument("--seed", choices=("demo", "none"), default="none", help="seed an Organization at start")
    p.add_argument("--valid-token", action="append", default=[], metavar="TOKEN",
                   help="a GitLab access token the simulated GitLab holds active (Reporter role), "
                        "so ValidatePullThroughCacheRule accepts it and it pulls private images (repeatable)")
    p.add_argument("--exit-on-stdin-eof", action="store_true",
                   help="exit when stdin reaches EOF (the parent died or closed the pipe)")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = p.parse_args(argv)
    host = "127.0.0.1" if args.host == "localhost" else args.host
    try:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError
    except ValueError:
        p.error(f"--host must be a loopback address, not {args.host!r}")
    args.host = host
    return args


class RedactingRequestHandler(WSGIRequestHandler):
    """--verbose request lines without a presigned URL's signature (it grants the download)."""

    def log_request(self, code="-", size="-"):
        path = getattr(self, "path", "")
        if "X-Amz-Signature=" not in path:
            return super().log_request(code, size)
        self.path = re.sub(r"(X-Amz-Signature=)[^&\s]+", r"\1REDACTED", path)  # werkzeug logs self.path
        try:
            super().log_request(code, size)
        finally:
            self.path = path


def build_app():
    ptc.install()
    templates.install()
    sts_guard.install()
    secrets_guard.install()
    regions.install()  # before the account app is built below: it adds a URL
    registry.install()
    permissions.install()
    dispatcher = DomainDispatcherApplication(create_backend_app)
    for service in WARM_SERVICES:
        dispatcher.app_instances[service] = create_backend_app(service)
        get_service_model(service)
    return PtcMiddleware(dispatcher)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # werkzeug logs one INFO line per request; it installs its own handler if left unset.
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)

    STATE.set_valid_tokens(args.valid_token)
    app = build_app()
    if args.seed == "demo":
        control.seed_demo()

    server = make_server(args.host, args.port, app, threaded=True, request_handler=RedactingRequestHandler)
    port = server.server_port
    os.environ["MOTO_PORT"] = str(port)  # some moto services build URLs from it
    print(f"listening on http://{args.host}:{port}", flush=True)
    # Keep stdout to that one line: moto prints warnings with print().
    sys.stdout = sys.stderr

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.exit_on_stdin_eof:
        def watch_stdin():
            # os.read, not sys.stdin: a daemon thread blocked inside the buffered
            # reader aborts interpreter shutdown ("could not acquire lock").
            fd = sys.stdin.fileno()
            while os.read(fd, 4096):
                pass
            stop.set()
        threading.Thread(target=watch_stdin, name="stdin-eof", daemon=True).start()

    threading.Thread(target=server.serve_forever, name="serve", daemon=True).start()
    while not stop.wait(0.5):
        pass
    STATE.stopping.set()  # release requests parked by "hang" faults
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
