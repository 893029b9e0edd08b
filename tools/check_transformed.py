#!/usr/bin/env python3
"""What a real account enforces, checked on the template CloudFormation
receives: `template.yaml` after SAM's own transform (the SAM CLI's
translator, offline). cfn-lint and `sam validate` check shape; these are
the rules whose breach only shows on a real deploy, or later, silently:

- no literal physical name (a second stack in the account, dev beside
  prod, could not be created): a name is absent or built from the stack;
- no reserved concurrency at the parameters' defaults (a new account's
  quota of 10 cannot spare any: the stack rolls back);
- every alarm topic publishable by CloudWatch (no AWS-managed key, whose
  policy does not let CloudWatch use it; a key of ours must allow it);
- every function with a log group of its own, with a retention;
- every function behind an alias, and every invoker (API integration,
  permission, schedule, EventBridge rule, queue mapping, async config)
  calling the alias, never `$LATEST`;
- every alarm with an action, at the parameters' defaults;
- no IAM statement of ours on "*" except actions that have no resource
  level, and no managed policy that grants SQS on "*";
- every route a stage's RouteSettings name is one the stage DependsOn
  (API Gateway refuses settings for a route it cannot find yet, and the
  first create fails);
- every function's version follows ConfigRevision: two revisions give
  two versions (SAM hashes the environment as written, so a parameter's
  new value would otherwise update $LATEST and never reach `live`);
- every operand of an alarm's metric math is FILLed (one series with no
  datapoint blanks a sum, and missing data reads as OK);
- rollout alarms (a deployment group's) count only our own faults: no
  API Gateway metric (a client's 4xx, $connect's 401 and 429 in
  IntegrationError, the third party's 502), and Lambda's only through an
  alias or version (the build being rolled out);
- CodeDeploy's role may move every alias it rolls out;
- a Cognito user pool can send through SES (Cognito's own sender sends 50
  emails a day).

Usage: check_transformed.py [TEMPLATE]   (run by `make template-check`)
"""

import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The property that names a resource, for the types that have one.
NAME_PROPERTIES = {
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::CodeDeploy::Application": "ApplicationName",
    "AWS::CodeDeploy::DeploymentGroup": "DeploymentGroupName",
    "AWS::Events::Rule": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::Cognito::UserPool": "UserPoolName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::WAFv2::WebACL": "Name",
}

# Actions that IAM cannot scope to a resource: "*" is their only form.
RESOURCELESS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "dynamodb:DescribeEndpoints",
    # Lists alarms (CodeDeploy reads the rollout alarms).
    "cloudwatch:DescribeAlarms",
}

# Managed policies that grant SQS on every queue.
SQS_EVERYWHERE = ("AWSLambdaSQSQueueExecutionRole",)

# What invokes a function, and where it names the function.
INVOKERS = {
    "AWS::Lambda::Permission": lambda p: [p.get("FunctionName")],
    "AWS::ApiGatewayV2::Integration": lambda p: [p.get("IntegrationUri")],
    "AWS::Scheduler::Schedule": lambda p: [(p.get("Target") or {}).get("Arn")],
    "AWS::Events::Rule": lambda p: [t.get("Arn") for t in p.get("Targets") or []],
    "AWS::Lambda::EventSourceMapping": lambda p: [p.get("FunctionName")],
}


def transform(template_path, template=None, parameters=None):
    """The template after SAM's transform, as CloudFormation receives it
    (code as `sam package` would point at it)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import transform as sam_transform
    from samtranslator.yaml_helper import yaml_parse

    if template is None:
        template = yaml_parse(pathlib.Path(template_path).read_text())
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = "s3://bucket/code.zip"

    class NoManagedPolicies:
        def load(self):
            return {}

    return sam_transform(template, dict(parameters or {"ConfigRevision": REVISIONS[0]}), NoManagedPolicies())


def evaluate(value, template):
    """A value at the parameters' defaults: `Fn::If` and `Ref` of a
    parameter resolved, enough for the rules below."""
    if isinstance(value, list):
        return [evaluate(v, template) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        return value
    (fn, arg), = value.items()
    params = template.get("Parameters") or {}
    if fn == "Ref" and arg in params:
        return params[arg].get("Default")
    if fn == "Fn::If":
        cond, then, otherwise = arg
        return evaluate(then if condition(cond, template) else otherwise, template)
    return value


def condition(name, template):
    return truth((template.get("Conditions") or {})[name], template)


def truth(expr, template):
    (fn, arg), = expr.items()
    if fn == "Fn::Equals":
        a, b = (evaluate(x, template) for x in arg)
        return str(a) == str(b)
    if fn == "Fn::Not":
        return not truth(arg[0], template)
    if fn == "Fn::And":
        return all(truth(x, template) for x in arg)
    if fn == "Fn::Or":
        return any(truth(x, template) for x in arg)
    if fn == "Condition":
        return condition(arg, template)
    raise ValueError(f"unknown condition function {fn}")


def exists(resource, template):
    cond = resource.get("Condition")
    return cond is None or condition(cond, template)


def literal_name(value):
    """True when a name is fixed text: the same in every stack."""
    if isinstance(value, str):
        return True
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        text = sub[0] if isinstance(sub, list) else sub
        return "${" not in text
    return False


def refs(value):
    """Every logical id a value names (Ref, GetAtt, ${...} in Sub)."""
    import re

    if isinstance(value, list):
        for v in value:
            yield from refs(v)
    elif isinstance(value, dict):
        for fn, arg in value.items():
            if fn == "Ref" and isinstance(arg, str):
                yield arg
            elif fn == "Fn::GetAtt":
                yield arg[0] if isinstance(arg, list) else arg.split(".")[0]
            elif fn == "Fn::Sub":
                text, variables = (arg + [{}])[:2] if isinstance(arg, list) else (arg, {})
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    if name not in variables:
                        yield name.split(".")[0]
                yield from refs(variables)
            else:
                yield from refs(arg)


# A revision for the transforms below (tools/stack.py derives the real one).
REVISIONS = ("a1b2c3d4e5f60718", "f9e8d7c6b5a40312")


def template_problems(template):
    """Every rule, on the template (not yet transformed)."""
    import copy

    first = transform(None, copy.deepcopy(template), {"ConfigRevision": REVISIONS[0]})
    yield from problems(first)
    second = transform(None, copy.deepcopy(template), {"ConfigRevision": REVISIONS[1]})
    yield from revision_problems(first, second)


def versions(out):
    """Each function's version logical id."""
    return {
        r["Properties"]["FunctionName"]["Ref"]: name
        for name, r in (out.get("Resources") or {}).items()
        if r.get("Type") == "AWS::Lambda::Version"
    }


def revision_problems(first, second):
    before, after = versions(first), versions(second)
    for function, version in sorted(before.items()):
        if after.get(function) == version:
            yield (f"{function}: its version does not follow ConfigRevision: a changed parameter "
                   "or key would update $LATEST and never reach the live alias")


def problems(out):
    resources = out.get("Resources") or {}
    of_type = lambda kind: {n: r for n, r in resources.items() if r.get("Type") == kind}  # noqa: E731
    functions = of_type("AWS::Lambda::Function")
    aliases = of_type("AWS::Lambda::Alias")

    for name, res in resources.items():
        prop = NAME_PROPERTIES.get(res.get("Type"))
        value = (res.get("Properties") or {}).get(prop) if prop else None
        if value is not None and literal_name(value):
            yield f"{name}: a literal {prop} ({value!r}): a second stack in the account collides"

    for name, res in functions.items():
        reserved = evaluate((res.get("Properties") or {}).get("ReservedConcurrentExecutions"), out)
        if reserved not in (None, {"Ref": "AWS::NoValue"}):
            yield f"{name}: reserves concurrency by default ({reserved}): a new account (quota 10) refuses it"

    topics = of_type("AWS::SNS::Topic")
    keys = of_type("AWS::KMS::Key")
    for name, res in of_type("AWS::CloudWatch::Alarm").items():
        actions = evaluate((res.get("Properties") or {}).get("AlarmActions"), out)
        if not exists(res, out):
            continue
        if not isinstance(actions, list) or not actions:
            yield f"{name}: an alarm with no action: it fires and nobody hears"
            continue
        for topic in set(refs(actions)) & set(topics):
            key = (topics[topic].get("Properties") or {}).get("KmsMasterKeyId")
            if key is None:
                continue
            key_refs = set(refs(key)) & set(keys)
            if not key_refs:
                yield f"{topic}: encrypted with {key!r}, whose policy does not let CloudWatch publish ({name})"
                continue
            for k in key_refs:
                policy = (keys[k].get("Properties") or {}).get("KeyPolicy") or {}
                if not any(cloudwatch_may_use(st) for st in policy.get("Statement") or []):
                    yield f"{k}: its policy does not let cloudwatch.amazonaws.com use it (topic {topic})"

    log_groups = [
        (r.get("Properties") or {}) for r in of_type("AWS::Logs::LogGroup").values()
    ]
    for name, res in functions.items():
        props = res.get("Properties") or {}
        own = {f"/aws/lambda/${{{name}}}"}
        fn_name = props.get("FunctionName")
        if isinstance(fn_name, dict) and isinstance(fn_name.get("Fn::Sub"), str):
            own.add("/aws/lambda/" + fn_name["Fn::Sub"])
        group = next(
            (g for g in log_groups if (g.get("LogGroupName") or {}).get("Fn::Sub") in own), None
        )
        if group is None:
            yield f"{name}: no log group of its own (its logs never expire and outlive the stack)"
        elif "RetentionInDays" not in group:
            yield f"{name}: its log group keeps logs for ever"
        if not any((a.get("Properties") or {}).get("FunctionName") == {"Ref": name} for a in aliases.values()):
            yield f"{name}: no alias: callers run $LATEST and a bad build reaches everyone at once"

    for kind, targets in INVOKERS.items():
        for name, res in of_type(kind).items():
            for target in targets(res.get("Properties") or {}):
                named = set(refs(target))
                if named & set(functions):
                    yield f"{name}: invokes {sorted(named & set(functions))} itself, not its alias"
    for name, res in of_type("AWS::Lambda::EventInvokeConfig").items():
        if (res.get("Properties") or {}).get("Qualifier") in (None, "$LATEST"):
            yield f"{name}: configures $LATEST, not the alias"

    for name, res in of_type("AWS::IAM::Role").items():
        props = res.get("Properties") or {}
        for arn in props.get("ManagedPolicyArns") or []:
            if any(p in str(arn) for p in SQS_EVERYWHERE):
                yield f"{name}: managed policy {arn} grants SQS on every queue"
        for policy in props.get("Policies") or []:
            for st in (policy.get("PolicyDocument") or {}).get("Statement") or []:
                st = evaluate(st, out)
                if not isinstance(st, dict) or st.get("Effect") != "Allow":
                    continue
                actions = st.get("Action")
                actions = actions if isinstance(actions, list) else [actions]
                targets = st.get("Resource")
                targets = targets if isinstance(targets, list) else [targets]
                if "*" in targets and not set(actions) <= RESOURCELESS:
                    yield f"{name}: {sorted(set(actions) - RESOURCELESS)} on \"*\""

    yield from codedeploy_problems(of_type)
    yield from stage_problems(of_type)
    yield from metric_math_problems(of_type("AWS::CloudWatch::Alarm"))
    yield from rollout_problems(of_type)
    for name, res in of_type("AWS::Cognito::UserPool").items():
        email = json.dumps((res.get("Properties") or {}).get("EmailConfiguration"))
        if '"DEVELOPER"' not in email or "SourceArn" not in email:
            yield f"{name}: no SES for its email: Cognito's own sender sends 50 a day"


def codedeploy_problems(of_type):
    """Each deployment group's role may move its function's alias."""
    roles = of_type("AWS::IAM::Role")
    for name, res in of_type("AWS::CodeDeploy::DeploymentGroup").items():
        function = name.removesuffix("DeploymentGroup")
        role = set(refs((res.get("Properties") or {}).get("ServiceRoleArn"))) & set(roles)
        if not role:
            continue  # SAM's own role, with AWS's managed policy
        statements = [
            st
            for policy in (roles[role.pop()].get("Properties") or {}).get("Policies") or []
            for st in (policy.get("PolicyDocument") or {}).get("Statement") or []
        ]
        movable = [
            st.get("Resource")
            for st in statements
            if "lambda:UpdateAlias" in (st.get("Action") if isinstance(st.get("Action"), list) else [st.get("Action")])
        ]
        if function not in set(refs(movable)):
            yield f"{name}: its role may not update {function}'s alias: every rollout of it fails"


def stage_problems(of_type):
    routes = of_type("AWS::ApiGatewayV2::Route")
    for name, res in of_type("AWS::ApiGatewayV2::Stage").items():
        props = res.get("Properties") or {}
        depends = res.get("DependsOn") or []
        depends = depends if isinstance(depends, list) else [depends]
        for key in props.get("RouteSettings") or {}:
            named = [
                r for r, route in routes.items()
                if (route.get("Properties") or {}).get("RouteKey") == key
                and (route.get("Properties") or {}).get("ApiId") == props.get("ApiId")
            ]
            if not named:
                yield f"{name}: RouteSettings name {key!r}, which is no route of its API"
            elif not set(named) & set(depends):
                yield f"{name}: RouteSettings name {key!r} but the stage does not DependsOn {named[0]}: the first create fails"


def metric_math_problems(alarms):
    import re

    for name, res in alarms.items():
        metrics = (res.get("Properties") or {}).get("Metrics") or []
        ids = {m["Id"] for m in metrics if "MetricStat" in m}
        for m in metrics:
            expression = m.get("Expression")
            if not expression:
                continue
            for id_ in sorted(ids):
                for hit in re.finditer(rf"\b{re.escape(id_)}\b", expression):
                    if not expression[: hit.start()].rstrip().endswith("FILL("):
                        yield f"{name}: {id_} is not FILLed in {expression!r}: a missing datapoint blanks the result"
                        break


def rollout_problems(of_type):
    alarms = of_type("AWS::CloudWatch::Alarm")
    rollout = set()
    for res in of_type("AWS::CodeDeploy::DeploymentGroup").values():
        config = (res.get("Properties") or {}).get("AlarmConfiguration") or {}
        for alarm in config.get("Alarms") or []:
            rollout |= set(refs(alarm.get("Name"))) & set(alarms)
    found = []
    for name in sorted(rollout):
        props = alarms[name].get("Properties") or {}
        watched = [props] + [(m.get("MetricStat") or {}).get("Metric") or {} for m in props.get("Metrics") or []]
        for metric in watched:
            namespace = metric.get("Namespace")
            dims = {d.get("Name") for d in metric.get("Dimensions") or []}
            if namespace == "AWS/ApiGateway":
                found.append(f"{name}: a rollout alarm on API Gateway's {metric.get('MetricName')}: "
                             "it counts clients' errors and the third party's 502, and anyone can hold it in ALARM")
            elif namespace == "AWS/Lambda" and not dims & {"Resource", "ExecutedVersion"}:
                found.append(f"{name}: a rollout alarm on Lambda's {metric.get('MetricName')} of every version, "
                             "not the live alias's")
    yield from dict.fromkeys(found)


def cloudwatch_may_use(statement):
    principal = statement.get("Principal") or {}
    services = principal.get("Service") if isinstance(principal, dict) else None
    services = services if isinstance(services, list) else [services]
    actions = statement.get("Action")
    actions = actions if isinstance(actions, list) else [actions]
    return (
        statement.get("Effect") == "Allow"
        and "cloudwatch.amazonaws.com" in services
        and "kms:Decrypt" in actions
        and any(a.startswith("kms:GenerateDataKey") for a in actions)
    )


def main(path):
    import logging

    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    from samtranslator.yaml_helper import yaml_parse

    found = list(template_problems(yaml_parse(pathlib.Path(path).read_text())))
    for p in found:
        print(f"{path} (transformed): {p}")
    if not found:
        print(f"{path} (transformed): first create; beside another stack; config goes live; alarms can fire, reach the topic, gate on our faults; every function logged and behind an alias")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ROOT / "template.yaml"))
