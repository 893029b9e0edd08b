#!/usr/bin/env python3
"""A deployed Boomerang stack, from this machine (boto3, with the usual AWS
credentials and region):

  stack.py deploy --env ENV [K=V ...]    sam deploy of ENV (after sam build), its
                                         parameters plus K=V, and ConfigRevision
  stack.py outputs --stack NAME          the stack's outputs, KEY=VALUE
  stack.py token --stack NAME --user U   an HS256 token for U, minted with
                                         the key in the stack's JwtSecretArn
  stack.py token --secret-arn ARN --user U
  stack.py smoke --stack NAME            boomerang-smoke against the stack,
                                         as user smoke-<random>
  stack.py load --stack NAME [LOADGEN FLAGS]
                                         a short load run (bench's loadgen)
                                         against the stack, as load-<random>

`--stack` defaults to the stack name of `--env` (default `dev`) in
samconfig.toml. The key is read, used and forgotten: never printed, never
written anywhere. Tokens last `--hours` (default 1).
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import pathlib
import secrets
import subprocess
import sys
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


# Where `sam build` puts what `sam deploy` ships.
BUILD_DIR = ROOT / ".aws-sam" / "build"


def overrides(env, extra=()):
    """ENV's parameter_overrides in samconfig.toml, with K=V pairs from the
    command line over them: the parameters as this deploy resolves them."""
    import shlex

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    try:
        text = config[env]["deploy"]["parameters"].get("parameter_overrides", "")
    except KeyError:
        sys.exit(f"samconfig.toml has no environment {env!r}")
    resolved = {}
    for pair in [*shlex.split(text), *extra]:
        key, sep, value = pair.partition("=")
        if not sep:
            sys.exit(f"not a parameter: {pair!r} (KEY=VALUE)")
        resolved[key] = value
    return resolved


def revision(build_dir, parameters, secret_versions):
    """ConfigRevision: a digest of everything a function's version must
    follow. SAM names the version after this alone, so it covers the
    built code and template (.aws-sam/build), the resolved parameters and
    the current version of each secret the functions read at init (a
    rotated key goes live with the next deploy)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in pathlib.Path(build_dir).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(build_dir)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for key, value in sorted(parameters.items()):
        digest.update(f"param {key}={value}\0".encode())
    for arn, version in sorted(secret_versions.items()):
        digest.update(f"secret {arn}={version}\0".encode())
    return digest.hexdigest()[:16]


def secret_versions(name, parameters):
    """The AWSCURRENT version of each secret the stack's functions read:
    its generated ones (from its outputs, once it exists) and the ones it
    was given."""
    import boto3
    from botocore.exceptions import ClientError

    arns = {v for k, v in parameters.items() if k.endswith("SecretArn") and v}
    try:
        outs = outputs(name)
    except ClientError:
        outs = {}  # the first deploy: nothing generated yet
    arns |= {v for k, v in outs.items() if k.endswith("SecretArn")}
    client = boto3.client("secretsmanager")
    found = {}
    for arn in sorted(arns):
        stages = client.describe_secret(SecretId=arn).get("VersionIdsToStages") or {}
        found[arn] = ",".join(sorted(v for v, s in stages.items() if "AWSCURRENT" in s))
    return found


def sam_overrides(parameters):
    """`--parameter-overrides` arguments that SAM reads back as
    `parameters`: each value quoted (unquoted, SAM cuts a value at its
    first space)."""
    return [f'{key}="{value}"' for key, value in parameters.items()]


def deploy(args, extra):
    if not (BUILD_DIR / "template.yaml").exists():
        sys.exit("nothing built: run `sam build --beta-features` first (make deploy does)")
    parameters = overrides(args.env, extra)
    if "ConfigRevision" in parameters:
        sys.exit("ConfigRevision is derived here; do not set it")
    rev = revision(BUILD_DIR, parameters, secret_versions(stack_name(args), parameters))
    print(f"ConfigRevision={rev}", flush=True)
    pairs = sam_overrides({**parameters, "ConfigRevision": rev})
    command = ["sam", "deploy", "--config-env", args.env]
    if args.stack:
        command += ["--stack-name", args.stack]
    sys.exit(subprocess.call([*command, "--parameter-overrides", *pairs]))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(key, user, hours):
    """HS256, claims sub and exp: what the functions accept."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"sub": user, "exp": int(time.time() + hours * 3600)}
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing = f"{header}.{payload}".encode()
    signature = b64url(hmac.new(key.encode(), signing, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def current_key(secret_string):
    """A bare key, or {"current": ..., "previous": ...} during a rotation."""
    text = secret_string.strip()
    if text.startswith("{"):
        return json.loads(text)["current"]
    return text


def stack_name(args):
    if args.stack:
        return args.stack
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    try:
        return config[args.env]["deploy"]["parameters"]["stack_name"]
    except KeyError:
        sys.exit(f"samconfig.toml has no stack_name for environment {args.env!r}; pass --stack")


def outputs(name):
    import boto3

    stacks = boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def token(args, outs=None):
    import boto3

    arn = args.secret_arn
    if not arn:
        outs = outs or outputs(stack_name(args))
        arn = outs.get("JwtSecretArn")
        if not arn:
            sys.exit("the stack has no JwtSecretArn output (it takes an identity provider's tokens: sign in there)")
    value = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return mint(current_key(value), args.user, args.hours)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["deploy", "outputs", "token", "smoke", "load"])
    p.add_argument("--stack")
    p.add_argument("--env", default=os.environ.get("ENV", "dev"))
    p.add_argument("--secret-arn")
    p.add_argument("--user", default=None)
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--smoke-bin", default=None)
    p.add_argument("--load-bin", default=None)
    args, rest = p.parse_known_args()
    if rest and args.command not in ("load", "deploy"):
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "deploy":
        deploy(args, rest)
    elif args.command == "outputs":
        for k, v in sorted(outputs(stack_name(args)).items()):
            print(f"{k}={v}")
    elif args.command == "token":
        if not args.user:
            sys.exit("--user is required")
        print(token(args))
    else:
        # smoke, or load: the binary against the stack's URLs, with a
        # throwaway user's token in its environment (never on a command line).
        outs = outputs(stack_name(args))
        args.user = args.user or f"{args.command}-{secrets.token_hex(4)}"
        api = outs.get("EdgeUrl") or outs.get("ApiDomainUrl") or outs["HttpApiUrl"]
        ws = outs.get("WebSocketDomainUrl") or outs["WebSocketUrl"]
        minted = token(args, outs)
        if args.command == "smoke":
            binary = args.smoke_bin or str(ROOT / "target" / "debug" / "boomerang-smoke")
            env = dict(os.environ, BOOMERANG_SMOKE_TOKEN=minted)
        else:
            binary = args.load_bin or str(ROOT / "target" / "release" / "loadgen")
            env = dict(os.environ, BOOMERANG_LOADGEN_TOKEN=minted)
        sys.exit(subprocess.call([binary, "--api", api, "--ws", ws, *rest], env=env))


if __name__ == "__main__":
    main()
