#!/usr/bin/env python3
"""ConfigRevision, as `make deploy` derives it (tools/stack.py): it moves
with everything a function's version must follow, and only with that (run
by `make template-check`)."""

import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import stack  # noqa: E402


class Revision(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.build = pathlib.Path(self.dir.name)
        (self.build / "UploadFunction").mkdir()
        (self.build / "UploadFunction" / "bootstrap").write_bytes(b"code v1")
        (self.build / "template.yaml").write_text("Resources: {}\n")
        self.params = {"ThirdPartyUrl": "https://tp.example.com/process", "LogLevel": "INFO"}
        self.secrets = {"arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt-AbCdEf": "v1"}

    def tearDown(self):
        self.dir.cleanup()

    def rev(self):
        return stack.revision(self.build, self.params, self.secrets)

    def test_the_same_build_parameters_and_keys_give_the_same_revision(self):
        self.assertEqual(self.rev(), self.rev())
        self.assertRegex(self.rev(), r"^[0-9a-f]{16}$")

    def test_a_parameters_new_value_gives_a_new_revision(self):
        before = self.rev()
        self.params["ThirdPartyUrl"] = "https://elsewhere.example.com/process"
        self.assertNotEqual(before, self.rev())

    def test_a_rotated_key_gives_a_new_revision(self):
        before = self.rev()
        self.secrets[next(iter(self.secrets))] = "v2"
        self.assertNotEqual(before, self.rev())

    def test_new_code_or_template_gives_a_new_revision(self):
        before = self.rev()
        (self.build / "UploadFunction" / "bootstrap").write_bytes(b"code v2")
        after_code = self.rev()
        (self.build / "template.yaml").write_text("Resources: {Timeout: 30}\n")
        self.assertEqual(len({before, after_code, self.rev()}), 3)

    def test_sam_reads_the_overrides_back_as_they_were_resolved(self):
        from samcli.cli.types import CfnParameterOverridesType

        parameters = {
            "StageName": "dev",
            "AllowedOrigins": "http://localhost:3000,https://app.example.com",
            "CognitoEmailFrom": "Boomerang <no-reply@example.com>",
            "ConfigRevision": "0123456789abcdef",
        }
        parsed = CfnParameterOverridesType().convert(tuple(stack.sam_overrides(parameters)), None, None)
        self.assertEqual(parsed, parameters)

    def test_overrides_from_the_command_line_win_over_samconfig(self):
        resolved = stack.overrides("dev", ["LogLevel=WARN", "ThirdPartyUrl=https://x.example.com/p"])
        self.assertEqual(resolved["LogLevel"], "WARN")
        self.assertEqual(resolved["ThirdPartyUrl"], "https://x.example.com/p")
        self.assertIn("StageName", resolved)


if __name__ == "__main__":
    unittest.main()
