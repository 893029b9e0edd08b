#!/usr/bin/env python3
"""Gives each Lambda of template.yaml an IAM user in moto holding exactly
the function's policy statements, plus an admin user for the test harness,
then turns on moto's IAM enforcement. Prints the access keys as JSON:
{"admin": {...}, "UploadFunction": {"AccessKeyId": ..., "SecretAccessKey": ...}}.

Where moto's checks differ from AWS's, the policy is translated, never
widened beyond what the template grants:
- moto authorizes DynamoDB calls against the resource "*" only, so
  DynamoDB statements keep their actions and lose their table ARNs there;
  the tables and indexes are checked by tools/moto_server.py instead,
  from the grants this script posts to it (the tables' names given as
  LogicalId=name arguments; S3 actions are checked by moto with their
  prefixes);
- moto checks a TransactWriteItems call as the action
  dynamodb:TransactWriteItems, where AWS checks each item's own action: a
  function allowed both UpdateItem and PutItem gets it;
- moto authorizes Secrets Manager calls by action only too, so
  secretsmanager statements keep their actions and lose their secret ARNs
  (the secret a function reads is the one its environment names);
- execute-api:ManageConnections is for the local gateway, which checks no
  signature.

Usage: moto_iam.py ENDPOINT TEMPLATE BUCKET [TableLogicalId=name ...]
"""

import json
import os
import re
import sys

import boto3
import urllib.request
import yaml

# The template check's YAML loader (CloudFormation's tags as {"Tag": value})
# and its evaluator of conditions and `!If`, beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_template import CfnLoader, evaluate  # noqa: E402


def dynamo_resource(resource, tables, template, params):
    """A DynamoDB ARN of the template as {"table", "index"} with the
    table's real name ("*" stays "*"); `!If` as the parameters choose."""
    resource = evaluate(resource, template, params)
    if resource == "*":
        return "*"
    if isinstance(resource, dict) and "GetAtt" in resource:
        logical = resource["GetAtt"].removesuffix(".Arn")
        index = None
    elif isinstance(resource, dict) and isinstance(resource.get("Sub"), str):
        m = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/([\w*]+)", resource["Sub"])
        if not m:
            raise SystemExit(f"unexpected DynamoDB resource {resource}")
        logical, index = m.groups()
    else:
        raise SystemExit(f"unexpected DynamoDB resource {resource}")
    if logical not in tables:
        raise SystemExit(f"no table name given for {logical}")
    return {"table": tables[logical], "index": index}


def dynamo_grants(function, tables, template):
    """The function's DynamoDB statements, with their resources, for
    tools/moto_server.py to check."""
    params = {n: p.get("Default") for n, p in (template.get("Parameters") or {}).items()}
    grants = []
    for st in statements_of(function, template):
        actions = as_list(st["Action"])
        if st["Effect"] == "Allow" and all(a.startswith("dynamodb:") for a in actions):
            resources = [dynamo_resource(r, tables, template, params) for r in as_list(st["Resource"])]
            grants.append({"actions": actions, "resources": resources})
    return grants


def s3_resource(resource, bucket):
    """A FilesBucket ARN (`!GetAtt FilesBucket.Arn`, `!Sub ${FilesBucket.Arn}/x/*`)
    as the bucket's real ARN; None if it names something else."""
    arn = f"arn:aws:s3:::{bucket}"
    if resource == {"GetAtt": "FilesBucket.Arn"}:
        return arn
    if isinstance(resource, dict) and isinstance(resource.get("Sub"), str):
        sub = resource["Sub"]
        if sub.startswith("${FilesBucket.Arn}"):
            return sub.replace("${FilesBucket.Arn}", arn)
    return None


def as_list(v):
    return v if isinstance(v, list) else [v]


def statements_of(function, template):
    """The function's policy statements as the template's defaults make
    them: its SAM `Policies`, or the inline policies of its own `Role`."""
    props = function["Properties"]
    policies = props.get("Policies", [])
    role = props.get("Role")
    if isinstance(role, dict) and "GetAtt" in role:
        role = template["Resources"][role["GetAtt"].removesuffix(".Arn")]
        policies = [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
    for policy in policies:
        for st in policy.get("Statement", []):
            if "If" in st:
                # A conditional statement: the template's defaults (no
                # identity provider) make every condition used so far true.
                st = st["If"][1]
            yield st


def policy_for(function, bucket, template):
    statements = []
    for st in statements_of(function, template):
        actions = as_list(st["Action"])
        if all(a.startswith("dynamodb:") or a.startswith("secretsmanager:") for a in actions):
            statements.append({"Effect": st["Effect"], "Action": actions, "Resource": "*"})
        elif all(a.startswith("s3:") for a in actions):
            resources = [s3_resource(r, bucket) for r in as_list(st["Resource"])]
            if None in resources:
                raise SystemExit(f"unexpected S3 resource in {st}")
            statements.append({"Effect": st["Effect"], "Action": actions, "Resource": resources})
        elif actions == ["execute-api:ManageConnections"]:
            continue
        elif all(a.split(":")[0] in ("sqs", "logs", "xray") for a in actions):
            # Lambda itself uses these with the role (the on-failure
            # destination, the queue's poller, logs and traces); the
            # function's own code never calls them.
            continue
        else:
            raise SystemExit(f"a statement this script does not know: {st}")
    dynamo = {a for st in statements for a in as_list(st["Action"]) if a.startswith("dynamodb:")}
    if {"dynamodb:UpdateItem", "dynamodb:PutItem"} <= dynamo:
        # moto checks a transaction as this one action; AWS checks each of
        # its items' own (and moto_server.py does too, per table).
        statements.append({"Effect": "Allow", "Action": ["dynamodb:TransactWriteItems"], "Resource": "*"})
    if not statements:
        # No AWS permission at all: a statement that allows nothing real.
        statements.append({"Effect": "Allow", "Action": "none:None", "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


def main():
    endpoint, template_path, bucket = sys.argv[1:4]
    tables = dict(arg.split("=", 1) for arg in sys.argv[4:])
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    policies = {"admin": everything}
    for name, res in template["Resources"].items():
        if res.get("Type") == "AWS::Serverless::Function":
            policies[name] = policy_for(res, bucket, template)
    keys = {}
    for name, document in policies.items():
        iam.create_user(UserName=name)
        iam.put_user_policy(
            UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(document)
        )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        keys[name] = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
    if tables:
        grants = {
            keys[name]["AccessKeyId"]: {
                "name": name,
                "grants": dynamo_grants(template["Resources"][name], tables, template),
            }
            for name in policies
            if name != "admin"
        }
        req = urllib.request.Request(
            f"{endpoint}/boomerang/dynamodb-grants",
            data=json.dumps(grants).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req).read()
    # From now on every request is authenticated and authorized.
    req = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(req).read()
    json.dump(keys, sys.stdout)


if __name__ == "__main__":
    main()
