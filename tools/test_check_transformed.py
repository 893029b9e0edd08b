#!/usr/bin/env python3
"""Each rule of check_transformed.py fails on a copy of template.yaml that
breaks it, so that none can pass by accident (run by `make
template-check`)."""

import copy
import logging
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import check_transformed  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

TEMPLATE = yaml_parse((check_transformed.ROOT / "template.yaml").read_text())
logging.getLogger("samtranslator").setLevel(logging.ERROR)


def found(mutate):
    template = copy.deepcopy(TEMPLATE)
    mutate(template["Resources"], template)
    return list(check_transformed.template_problems(template))


class TransformedRules(unittest.TestCase):
    def assertCaught(self, mutate, *words):
        problems = found(mutate)
        self.assertTrue(
            any(all(w in p for w in words) for p in problems),
            f"no problem naming {words}: {problems}",
        )

    def test_template_yaml_passes(self):
        self.assertEqual(found(lambda r, t: None), [])

    def test_a_schedule_named_after_its_logical_id(self):
        def mutate(r, t):
            del r["SweepFunction"]["Properties"]["Events"]["EveryMinute"]["Properties"]["OmitName"]
        self.assertCaught(mutate, "SweepFunctionEveryMinute", "literal Name")

    def test_a_fixed_function_name(self):
        def mutate(r, t):
            r["SubmitFunction"]["Properties"]["FunctionName"] = "boomerang-submit"
        self.assertCaught(mutate, "SubmitFunction", "literal FunctionName")

    def test_a_reservation_by_default(self):
        def mutate(r, t):
            r["SweepFunction"]["Properties"]["ReservedConcurrentExecutions"] = 1
        self.assertCaught(mutate, "SweepFunction", "reserves concurrency")

    def test_an_alarm_topic_under_the_aws_managed_key(self):
        def mutate(r, t):
            r["AlarmTopic"]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"
        self.assertCaught(mutate, "AlarmTopic", "alias/aws/sns")

    def test_a_key_that_does_not_let_cloudwatch_publish(self):
        def mutate(r, t):
            statements = r["AlarmKey"]["Properties"]["KeyPolicy"]["Statement"]
            statements[:] = [s for s in statements if "Service" not in s["Principal"]]
        self.assertCaught(mutate, "AlarmKey", "cloudwatch.amazonaws.com")

    def test_a_function_without_a_log_group(self):
        self.assertCaught(lambda r, t: r.pop("SweepLogs"), "SweepFunction", "no log group")

    def test_a_log_group_kept_for_ever(self):
        def mutate(r, t):
            del r["ApiLogs"]["Properties"]["RetentionInDays"]
        self.assertCaught(mutate, "ApiFunction", "for ever")

    def test_a_function_without_an_alias(self):
        def mutate(r, t):
            # Its own setting, over the Globals' `live`.
            r["WsDefaultFunction"]["Properties"]["AutoPublishAlias"] = None
            r["WsDefaultFunction"]["Properties"]["DeploymentPreference"] = None
            r["WsDefaultIntegration"]["Properties"]["IntegrationUri"] = {
                "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${WsDefaultFunction.Arn}/invocations"
            }
            r["WsDefaultPermission"]["Properties"]["FunctionName"] = {"Ref": "WsDefaultFunction"}
        problems = found(mutate)
        self.assertIn("WsDefaultFunction: no alias: callers run $LATEST and a bad build reaches everyone at once", problems)
        self.assertTrue(any(p.startswith("WsDefaultIntegration: invokes") for p in problems), problems)
        self.assertTrue(any(p.startswith("WsDefaultPermission: invokes") for p in problems), problems)

    def test_an_alarm_without_an_action(self):
        def mutate(r, t):
            del r["HttpApi5xxAlarm"]["Properties"]["AlarmActions"]
        self.assertCaught(mutate, "HttpApi5xxAlarm", "no action")

    def test_an_alarm_whose_action_depends_on_an_unset_parameter(self):
        def mutate(r, t):
            r["SweepHeartbeatAlarm"]["Properties"]["AlarmActions"] = {
                "Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]
            }
        self.assertCaught(mutate, "SweepHeartbeatAlarm", "no action")

    def test_an_integration_calling_latest(self):
        def mutate(r, t):
            r["UploadIntegration"]["Properties"]["IntegrationUri"] = {"Fn::GetAtt": "UploadFunction.Arn"}
        self.assertCaught(mutate, "UploadIntegration", "UploadFunction", "not its alias")

    def test_sqs_on_every_queue(self):
        def mutate(r, t):
            r["SubmitFunction"]["Properties"].pop("Role")
            r["SubmitFunction"]["Properties"].pop("FunctionName")
        self.assertCaught(mutate, "SubmitFunctionRole", "SQS on every queue")

    def test_a_wildcard_statement(self):
        def mutate(r, t):
            statements = r["SubmitRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            statements.append({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})
        self.assertCaught(mutate, "SubmitRole", "sqs:SendMessage", '"*"')

    def test_a_stage_created_before_the_routes_its_settings_name(self):
        def mutate(r, t):
            del r["HttpStage"]["DependsOn"]
        self.assertCaught(mutate, "HttpStage", "POST /uploads", "DependsOn UploadRoute")

    def test_a_function_whose_version_ignores_the_revision(self):
        def mutate(r, t):
            del r["UploadFunction"]["Properties"]["AutoPublishCodeSha256"]
        self.assertCaught(mutate, "UploadFunction", "does not follow ConfigRevision")

    def test_a_sum_of_series_that_may_have_no_datapoint(self):
        def mutate(r, t):
            metrics = r["FunctionThrottlesAlarm"]["Properties"]["Metrics"]
            metrics[0]["Expression"] = "t1 + FILL(t2, 0) + FILL(t3, 0)"
        self.assertCaught(mutate, "FunctionThrottlesAlarm", "t1 is not FILLed")

    def test_a_rollout_alarm_on_the_websocket_apis_integration_errors(self):
        def mutate(r, t):
            alarm = r["WebSocketErrorsAlarm"]["Properties"]
            alarm["MetricName"] = "IntegrationError"
            t["Globals"]["Function"]["DeploymentPreference"]["Alarms"].append({"Ref": "WebSocketErrorsAlarm"})
        self.assertCaught(mutate, "WebSocketErrorsAlarm", "rollout alarm", "IntegrationError")

    def test_a_rollout_alarm_on_the_http_apis_5xx(self):
        def mutate(r, t):
            t["Globals"]["Function"]["DeploymentPreference"]["Alarms"].append({"Ref": "HttpApi5xxAlarm"})
        self.assertCaught(mutate, "HttpApi5xxAlarm", "rollout alarm", "5xx")

    def test_a_rollout_alarm_on_every_versions_errors(self):
        def mutate(r, t):
            t["Globals"]["Function"]["DeploymentPreference"]["Alarms"].append({"Ref": "FunctionErrorsAlarm"})
        self.assertCaught(mutate, "FunctionErrorsAlarm", "every version")

    def test_a_codedeploy_role_that_cannot_move_an_alias(self):
        def mutate(r, t):
            statements = r["CodeDeployRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            statements[1]["Resource"] = [x for x in statements[1]["Resource"] if "ApiFunction" not in str(x)]
        self.assertCaught(mutate, "ApiFunctionDeploymentGroup", "may not update ApiFunction")

    def test_a_user_pool_on_cognitos_own_sender(self):
        def mutate(r, t):
            del r["UserPool"]["Properties"]["EmailConfiguration"]
        self.assertCaught(mutate, "UserPool", "50 a day")


if __name__ == "__main__":
    unittest.main()
