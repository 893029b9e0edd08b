#!/usr/bin/env python3
"""moto server for Boomerang's tests, serving one request at a time.

`moto_server` answers requests on many threads, and moto's DynamoDB
TransactWriteItems is not atomic across threads (a cancelled transaction
restores a snapshot that can drop another one's writes). DynamoDB itself
is atomic, so the tests run moto one request at a time, which is.

Usage: moto_server.py HOST PORT
"""

import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
