#!/usr/bin/env python3
"""A deployed Boomerang stack, from this machine (boto3, with the usual AWS
credentials and region):

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
    p.add_argument("command", choices=["outputs", "token", "smoke", "load"])
    p.add_argument("--stack")
    p.add_argument("--env", default=os.environ.get("ENV", "dev"))
    p.add_argument("--secret-arn")
    p.add_argument("--user", default=None)
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--smoke-bin", default=None)
    p.add_argument("--load-bin", default=None)
    args, rest = p.parse_known_args()
    if rest and args.command != "load":
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "outputs":
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
