#!/usr/bin/env python3
"""Checks of template.yaml that cfn-lint cannot know to make (run by
`make template-check`):

- every API Gateway v2 stage goes live with each change: `AutoDeploy: true`,
  and no `AWS::ApiGatewayV2::Deployment` (a fixed logical id with fixed
  properties is deployed once; later route changes never reach the stage).
- one log level setting that works: Lambda's `ApplicationLogLevel` from the
  `LogLevel` parameter, and no `RUST_LOG` anywhere (the runtime lets it
  override `AWS_LAMBDA_LOG_LEVEL`); `SystemLogLevel` keeps Lambda's START
  and REPORT records (INFO or DEBUG).
- access logs on every API stage, and X-Ray tracing on the functions.
- retention: finished jobs expire (the jobs table's TTL, an S3 lifecycle
  rule for results/, both from JobRetentionDays); point-in-time recovery
  and deletion protection on the tables worth them, as parameters.
- every limit of the contract is a parameter the functions are given.
- custom domains: each API can have one (a DomainName and its ApiMapping).
- samconfig.toml: each environment names only template.yaml's parameters,
  and every parameter without a default.
- lean indexes: the jobs table's indexes project KEYS_ONLY (a result is
  never copied into an index; an index write is one unit, and only when a
  key changes).
- keepalives: a `ping` route answered `{"type": "pong"}` by a mock
  integration, two-way, with no Lambda behind it.
"""

import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


class CfnLoader(yaml.SafeLoader):
    pass


def _tagged(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


CfnLoader.add_multi_constructor("!", _tagged)


def env_vars(props):
    return ((props or {}).get("Environment") or {}).get("Variables") or {}


def problems(template):
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    logging = function_globals.get("LoggingConfig") or {}
    if logging.get("ApplicationLogLevel") != {"Ref": "LogLevel"}:
        yield "Globals: ApplicationLogLevel must be !Ref LogLevel (the one log level setting)"
    if logging.get("SystemLogLevel") not in ("INFO", "DEBUG"):
        yield "Globals: SystemLogLevel must be INFO or DEBUG, or Lambda's START/REPORT lines are dropped"
    if "RUST_LOG" in env_vars(function_globals):
        yield "Globals: RUST_LOG overrides the LogLevel parameter"
    if function_globals.get("Tracing") != "Active":
        yield "Globals: functions without X-Ray tracing (Tracing: Active)"
    resources = template.get("Resources", {})
    jobs = (resources.get("JobsTable") or {}).get("Properties") or {}
    if (jobs.get("TimeToLiveSpecification") or {}).get("AttributeName") != "ttl":
        yield "JobsTable: no TTL: finished jobs would live for ever"
    rules = ((((resources.get("FilesBucket") or {}).get("Properties") or {})
              .get("LifecycleConfiguration") or {}).get("Rules") or [])
    if not any(r.get("Prefix") == "results/" and r.get("ExpirationInDays") == {"Ref": "JobRetentionDays"} for r in rules):
        yield "FilesBucket: results/ must expire after JobRetentionDays"
    for gsi in jobs.get("GlobalSecondaryIndexes") or []:
        if (gsi.get("Projection") or {}).get("ProjectionType") != "KEYS_ONLY":
            yield f"JobsTable.{gsi.get('IndexName')}: projects more than its keys (every job write copies it)"
    for table in ("JobsTable", "EventsTable"):
        props = (resources.get(table) or {}).get("Properties") or {}
        if "DeletionProtectionEnabled" not in props:
            yield f"{table}: deletion protection is not a parameter"
        if "PointInTimeRecoverySpecification" not in props:
            yield f"{table}: point-in-time recovery is not a parameter"
    yield from ping_problems(resources)
    mappings = [r.get("Properties") or {} for r in resources.values() if r.get("Type") == "AWS::ApiGatewayV2::ApiMapping"]
    for api in ("HttpApi", "WebSocketApi"):
        if not any(m.get("ApiId") == {"Ref": api} for m in mappings):
            yield f"{api}: no custom domain can be mapped to it"

    limits = {
        "BOOMERANG_MAX_UPLOAD_BYTES": "MaxUploadBytes",
        "BOOMERANG_MAX_WEBHOOK_BYTES": "MaxWebhookBytes",
        "BOOMERANG_MAX_PUSH_BYTES": "MaxPushBytes",
        "BOOMERANG_MAX_FILE_BYTES": "MaxFileBytes",
        "BOOMERANG_THIRD_PARTY_TIMEOUT_MS": "ThirdPartyTimeoutMs",
        "BOOMERANG_UPLOAD_URL_TTL_SECS": "UploadUrlTtlSeconds",
        "BOOMERANG_MAX_CONNECTIONS_PER_USER": "MaxConnectionsPerUser",
        "BOOMERANG_MAX_UPLOADS_PER_MINUTE": "MaxUploadsPerMinute",
        "BOOMERANG_MAX_OPEN_UPLOADS": "MaxOpenUploads",
        "BOOMERANG_THIRD_PARTY_MODE": "ThirdPartyMode",
        "BOOMERANG_FILE_URL_TTL_SECS": "FileUrlTtlSeconds",
        "BOOMERANG_JOB_TIMEOUT_SECS": "JobTimeoutSeconds",
        "BOOMERANG_EVENT_RETENTION_SECS": "EventRetentionSeconds",
        "BOOMERANG_JOB_RETENTION_DAYS": "JobRetentionDays",
    }
    given = env_vars(function_globals)
    for var, param in limits.items():
        if given.get(var) != {"Ref": param} or param not in (template.get("Parameters") or {}):
            yield f"Globals: {var} is not the {param} parameter"

    for name, res in resources.items():
        kind = res.get("Type")
        props = res.get("Properties") or {}
        if kind == "AWS::Serverless::Function" and "RUST_LOG" in env_vars(props):
            yield f"{name}: RUST_LOG overrides the LogLevel parameter"
        if kind == "AWS::ApiGatewayV2::Deployment":
            yield f"{name}: a Deployment resource is made once; use AutoDeploy on the stage"
        if kind == "AWS::ApiGatewayV2::Stage":
            if props.get("AutoDeploy") is not True:
                yield f"{name}: without AutoDeploy: true, route changes never go live"
            if "DeploymentId" in props:
                yield f"{name}: a fixed DeploymentId pins the stage to its first deployment"
            access = props.get("AccessLogSettings") or {}
            if not access.get("DestinationArn"):
                yield f"{name}: no access logs"
            fmt = str(access.get("Format", "")).lower()
            if "path" in fmt or "querystring" in fmt or "query" in fmt:
                yield f"{name}: the access log format names the path or query string (a token travels there)"


def ping_problems(resources):
    def of_type(kind):
        return {n: (r.get("Properties") or {}) for n, r in resources.items() if r.get("Type") == kind}

    routes = {n: p for n, p in of_type("AWS::ApiGatewayV2::Route").items() if p.get("RouteKey") == "ping"}
    if len(routes) != 1:
        yield "no `ping` route: every keepalive would run a Lambda"
        return
    (route_name, route), = routes.items()
    target = (route.get("Target") or {}).get("Sub", "")
    integration = next((n for n in of_type("AWS::ApiGatewayV2::Integration") if f"${{{n}}}" in target), None)
    if integration is None or of_type("AWS::ApiGatewayV2::Integration")[integration].get("IntegrationType") != "MOCK":
        yield f"{route_name}: not a mock integration"
        return
    responses = [p for p in of_type("AWS::ApiGatewayV2::IntegrationResponse").values()
                 if p.get("IntegrationId") == {"Ref": integration}]
    templates = [(p.get("ResponseTemplates") or {}).get("$default") for p in responses]
    if '{"type": "pong"}' not in templates:
        yield f"{integration}: does not answer {{\"type\": \"pong\"}}"
    if not any(p.get("RouteId") == {"Ref": route_name} for p in of_type("AWS::ApiGatewayV2::RouteResponse").values()):
        yield f"{route_name}: one-way: the pong never reaches the tab"


def evaluate(value, template, params):
    """The value of a template expression for these parameter values:
    enough of CloudFormation's intrinsics for conditions and `!If`."""
    if not isinstance(value, dict) or len(value) != 1:
        return value
    (fn, arg), = value.items()
    conditions = template.get("Conditions") or {}
    if fn == "Ref":
        return params.get(arg, value)
    if fn == "Condition":
        return evaluate(conditions[arg], template, params)
    if fn == "Equals":
        a, b = (evaluate(x, template, params) for x in arg)
        return a == b
    if fn == "Or":
        return any(evaluate(x, template, params) for x in arg)
    if fn == "And":
        return all(evaluate(x, template, params) for x in arg)
    if fn == "Not":
        return not evaluate(arg[0], template, params)
    if fn == "If":
        cond, then, otherwise = arg
        chosen = then if evaluate(conditions[cond], template, params) else otherwise
        return evaluate(chosen, template, params)
    return value


def samconfig_problems(template, path):
    import shlex
    import tomllib

    params = template.get("Parameters") or {}
    # ConfigRevision is derived at each deploy (tools/stack.py), never set.
    derived = {"ConfigRevision"}
    required = {n for n, p in params.items() if "Default" not in p} - derived
    config = tomllib.loads(path.read_text())
    # Environments deploy side by side in one account: one stack each.
    seen = {}
    for env, sections in config.items():
        if not isinstance(sections, dict) or "deploy" not in sections:
            continue
        deploy = sections["deploy"].get("parameters") or {}
        overrides = dict(
            kv.split("=", 1) for kv in shlex.split(deploy.get("parameter_overrides", ""))
        )
        for name in overrides:
            if name in derived:
                yield f"samconfig.toml [{env}]: {name} is derived by make deploy; a fixed one never changes"
            elif name not in params:
                yield f"samconfig.toml [{env}]: {name} is not a parameter of the template"
        for name in sorted(required - set(overrides)):
            yield f"samconfig.toml [{env}]: {name} has no default and is not set"
        if not deploy.get("stack_name"):
            yield f"samconfig.toml [{env}]: no stack_name"
        elif deploy["stack_name"] in seen:
            yield f"samconfig.toml [{env}]: stack_name {deploy['stack_name']} is also {seen[deploy['stack_name']]}'s"
        else:
            seen[deploy["stack_name"]] = env


def main(path):
    template = yaml.load(pathlib.Path(path).read_text(), Loader=CfnLoader)
    found = list(problems(template))
    samconfig = pathlib.Path(path).resolve().parent / "samconfig.toml"
    if samconfig.exists():
        found += list(samconfig_problems(template, samconfig))
    for p in found:
        print(f"{path}: {p}")
    if not found:
        print(f"{path}: stages deploy each change and log access; one log level; tracing; retention")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ROOT / "template.yaml"))
