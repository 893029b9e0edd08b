#!/usr/bin/env python3
"""moto server for Boomerang's tests, serving one request at a time.

`moto_server` answers requests on many threads, and moto's DynamoDB
TransactWriteItems is not atomic across threads (a cancelled transaction
restores a snapshot that can drop another one's writes). DynamoDB itself
is atomic, so the tests run moto one request at a time, which is.

moto authorizes a DynamoDB call by its action alone, against the
resource "*". Once tools/moto_iam.py posts each function's grants to
/boomerang/dynamodb-grants, the tables and indexes a call names are
checked against its signer's grants too, as AWS checks them: a table's
ARN does not cover its indexes, and each table of a batch or a
transaction is checked.

Usage: moto_server.py HOST PORT
"""

import io
import json
import re
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple


GRANTS_PATH = "/boomerang/dynamodb-grants"
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def needs(operation, body):
    """(action, table, index) for each resource a DynamoDB call touches;
    table None for calls on no table (DescribeEndpoints)."""
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(operation, table, None) for table in body.get("RequestItems", {})]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return [
            (TRANSACT_ACTIONS[kind], item["TableName"], None)
            for entry in body.get("TransactItems", [])
            for kind, item in entry.items()
        ]
    return [(operation, body.get("TableName"), body.get("IndexName"))]


def allowed(grants, action, table, index):
    for grant in grants:
        if f"dynamodb:{action}" not in grant["actions"] and "dynamodb:*" not in grant["actions"]:
            continue
        for r in grant["resources"]:
            if r == "*":
                return True
            if table is not None and r["table"] == table and r["index"] in (index, "*" if index else None):
                return True
    return False


class DynamoResources:
    """Checks the tables and indexes of DynamoDB calls against the
    signer's grants (see the module's docstring)."""

    def __init__(self, app):
        self.app = app
        self.grants = {}

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == GRANTS_PATH and environ.get("REQUEST_METHOD") == "POST":
            self.grants = json.loads(self._body(environ))
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b"{}"]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        credential = re.search(r"Credential=([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
        signer = self.grants.get(credential.group(1)) if credential else None
        if signer is not None and target.startswith("DynamoDB_"):
            operation = target.split(".", 1)[1]
            body = json.loads(self._body(environ) or b"{}")
            for action, table, index in needs(operation, body):
                if not allowed(signer["grants"], action, table, index):
                    resource = "*" if table is None else f"table/{table}" + (f"/index/{index}" if index else "")
                    message = f"{signer['name']} is not authorized to perform: dynamodb:{action} on resource: {resource}"
                    print(f"moto_server.py: denied: {message}", file=sys.stderr, flush=True)
                    payload = json.dumps(
                        {"__type": "com.amazon.coral.service#AccessDeniedException", "Message": message}
                    ).encode()
                    start_response(
                        "400 Bad Request",
                        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(payload)))],
                    )
                    return [payload]
        return self.app(environ, start_response)

    @staticmethod
    def _body(environ):
        """The request's body, put back for the app to read again."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DynamoResources(DomainDispatcherApplication(create_backend_app))
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
