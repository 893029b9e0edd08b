#!/usr/bin/env python3
"""Checks docs/openapi.yaml: a valid OpenAPI document whose paths and
methods are exactly the routes the local gateway serves
(infra/local/src/emulator/mod.rs). API Gateway's own Management API
(`/@connections/{id}`, registered apart in `management_api()`) is AWS's,
documented in docs/api.md, and not checked here."""

import pathlib
import re
import sys

import yaml
from openapi_spec_validator import validate

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "openapi.yaml"
ROUTER = ROOT / "infra" / "local" / "src" / "emulator" / "mod.rs"


def main() -> int:
    spec = yaml.safe_load(SPEC.read_text())
    validate(spec)
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "delete", "patch"}
    }
    # `.route("path", get(a).put(b))`, on one line or as rustfmt splits it.
    served = {
        (method.upper(), path)
        for path, chain in re.findall(r'\.route\(\s*"([^"]+)",\s*((?:\.?(?:get|post|put|delete|patch)\([^()]*\))+)', ROUTER.read_text())
        for method in re.findall(r"(get|post|put|delete|patch)\(", chain)
    }
    ok = True
    for method, path in sorted(served - documented):
        print(f"served but not in docs/openapi.yaml: {method} {path}")
        ok = False
    for method, path in sorted(documented - served):
        print(f"in docs/openapi.yaml but not served: {method} {path}")
        ok = False
    if ok:
        print(f"docs/openapi.yaml: valid, {len(documented)} operations, all served")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
