#!/usr/bin/env python3
"""Checks of template.yaml that cfn-lint cannot know to make (run by
`make template-check`):

- every API Gateway v2 stage goes live with each change: `AutoDeploy: true`,
  and no `AWS::ApiGatewayV2::Deployment` (a fixed logical id with fixed
  properties is deployed once; later route changes never reach the stage).
"""

import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


class CfnLoader(yaml.SafeLoader):
    pass


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def problems(template):
    resources = template.get("Resources", {})
    for name, res in resources.items():
        kind = res.get("Type")
        props = res.get("Properties") or {}
        if kind == "AWS::ApiGatewayV2::Deployment":
            yield f"{name}: a Deployment resource is made once; use AutoDeploy on the stage"
        if kind == "AWS::ApiGatewayV2::Stage":
            if props.get("AutoDeploy") is not True:
                yield f"{name}: without AutoDeploy: true, route changes never go live"
            if "DeploymentId" in props:
                yield f"{name}: a fixed DeploymentId pins the stage to its first deployment"


def main(path):
    template = yaml.load(pathlib.Path(path).read_text(), Loader=CfnLoader)
    found = list(problems(template))
    for p in found:
        print(f"{path}: {p}")
    if not found:
        print(f"{path}: every stage deploys each change")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ROOT / "template.yaml"))
