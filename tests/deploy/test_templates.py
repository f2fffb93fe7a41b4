"""Deployment artifacts: they lint clean and agree with the code (settings, ports, health
check, table layout, the AWS actions the code really calls)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from generation import layout
from loopback import ROOT
from profile_engine.settings import EngineSettings
from recsvc.settings import Settings

BIN = Path(sys.executable).parent
TEMPLATES = sorted((ROOT / "deploy").rglob("template.yaml"))
DOCKERFILE = ROOT / "deploy/ecs/Dockerfile"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def load(path: Path) -> dict[str, Any]:
    template, problems = decode(str(path))
    assert not problems, problems
    return template


def fields(cls: type[Settings] | type[EngineSettings]) -> set[str]:
    prefix = cls.model_config.get("env_prefix", "")
    return {f"{prefix}{name.upper()}" for name in cls.model_fields}


def aws_calls(source: Path, client: str) -> set[str]:
    """DynamoDB actions a module calls, from its boto3/aioboto3 method names."""
    text = source.read_text()
    methods = set(re.findall(rf"{client}\.([a-z_]+)\b", text))
    return {"".join(p.title() for p in m.split("_")) for m in methods if m != "exceptions"}


def role_actions(template: dict[str, Any], role: str, service: str) -> set[str]:
    actions: set[str] = set()
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        if "Fn::If" in policy:  # a policy that exists when its condition holds
            policy = policy["Fn::If"][1]
        for statement in policy["PolicyDocument"]["Statement"]:
            listed = statement["Action"]
            for action in [listed] if isinstance(listed, str) else listed:
                if action.startswith(f"{service}:"):
                    actions.add(action.split(":", 1)[1])
    return actions


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_cfn_lint(template: Path) -> None:
    done = run(str(BIN / "cfn-lint"), str(template))
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_lints_clean() -> None:
    done = run(str(BIN / "hadolint"), str(DOCKERFILE))
    assert done.returncode == 0, done.stdout + done.stderr


def test_shell_scripts_lint_clean() -> None:
    scripts = [str(p) for p in (ROOT / "deploy").rglob("*.sh")] + [str(ROOT / ".ci/run")]
    done = run(str(BIN / "shellcheck"), "--severity=warning", *scripts)
    assert done.returncode == 0, done.stdout + done.stderr


class TestEcs:
    template = load(ROOT / "deploy/ecs/template.yaml")
    resources = template["Resources"]
    container = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    secrets = {s["Name"] for s in container["Secrets"]}

    def test_every_variable_is_a_setting(self) -> None:
        assert (set(self.env) | self.secrets) <= fields(Settings)

    def test_literal_values_parse_as_settings(self) -> None:
        literal = {k: v for k, v in self.env.items() if isinstance(v, str)}
        settings = Settings(**{k.removeprefix("RECSVC_").lower(): v for k, v in literal.items()})
        assert settings.cache == "redis"

    def test_ports_agree(self) -> None:
        port = int(self.env["RECSVC_PORT"])
        assert port == Settings.model_fields["port"].default
        mapped = {m["ContainerPort"] for m in self.container["PortMappings"]}
        assert {port, int(self.env["RECSVC_METRICS_PORT"])} == mapped
        assert self.resources["TargetGroup"]["Properties"]["Port"] == port
        service = self.resources["Service"]["Properties"]["LoadBalancers"][0]
        assert service["ContainerPort"] == port
        assert self.resources["LoadBalancerToService"]["Properties"]["FromPort"] == port
        assert f"EXPOSE {port}" in DOCKERFILE.read_text()
        assert f"RECSVC_PORT={port}" in DOCKERFILE.read_text()

    def test_health_checks_use_grpc_health(self) -> None:
        command = self.container["HealthCheck"]["Command"]
        assert command[:3] == ["CMD", "recsvc", "health"]
        assert command[-1] == f"127.0.0.1:{self.env['RECSVC_PORT']}"
        in_image = '["' + '", "'.join(command[1:]) + '"]'
        assert f"CMD {in_image}" in DOCKERFILE.read_text()
        tg = self.resources["TargetGroup"]["Properties"]
        assert tg["HealthCheckPath"] == "/grpc.health.v1.Health/Check"
        assert tg["ProtocolVersion"] == "GRPC"
        # the CLI really has that subcommand
        assert run(str(BIN / "recsvc"), "health", "--help").returncode == 0

    def test_stop_timeout_outlasts_the_drain(self) -> None:
        drain = float(self.env["RECSVC_DRAIN_DELAY_S"]) + float(self.env["RECSVC_GRACE_S"])
        assert self.container["StopTimeout"] > drain
        deregistration = {
            a["Key"]: a["Value"]
            for a in self.resources["TargetGroup"]["Properties"]["TargetGroupAttributes"]
        }["deregistration_delay.timeout_seconds"]
        assert int(deregistration) <= float(self.env["RECSVC_GRACE_S"])

    def test_table_matches_the_schema(self) -> None:
        table = self.resources["ProfilesTable"]["Properties"]
        wanted = layout.table_definition("x")
        assert table["KeySchema"] == wanted["KeySchema"]
        assert table["AttributeDefinitions"] == wanted["AttributeDefinitions"]
        assert table["TimeToLiveSpecification"] == {
            "AttributeName": layout.TTL_ATTRIBUTE, "Enabled": True,
        }

    def test_task_role_allows_exactly_what_the_store_calls(self) -> None:
        called = aws_calls(ROOT / "recsvc/store/dynamodb.py", "self._client")
        assert called == role_actions(self.template, "TaskRole", "dynamodb")


    def test_task_role_can_write_exports_and_start_imports(self) -> None:
        export_uri = self.env["RECSVC_EXPORT_URI"]["Fn::Sub"]
        assert export_uri == "s3://${ExportBucketName}/segments"
        s3 = role_actions(self.template, "TaskRole", "s3")
        assert {"PutObject", "GetObject", "DeleteObject"} <= s3  # temporary key, copy, delete
        assert role_actions(self.template, "TaskRole", "mobiletargeting") == {"CreateImportJob"}
        assert role_actions(self.template, "TaskRole", "ses") == {"CreateImportJob"}
        jobs = (ROOT / "segment_export/jobs.py").read_text()
        assert set(re.findall(r"client\.([a-z_]+)\(", jobs)) == {"create_import_job"}


class TestEmr:
    template = load(ROOT / "deploy/emr/template.yaml")
    step_script = (ROOT / "deploy/emr/run-step.sh").read_text()

    def test_step_uses_engine_settings(self) -> None:
        exported = set(re.findall(r"export (PROFILE_ENGINE_[A-Z_]+)", self.step_script))
        exported |= set(re.findall(r"^(PROFILE_ENGINE_[A-Z_]+)=", self.step_script, re.M))
        assert exported and exported <= fields(EngineSettings)

    def test_step_arguments_match_the_script(self) -> None:
        states = self.template["Resources"]["NightlyRun"]["Properties"]["Definition"]["States"]
        args = states["RunProfileEngine"]["Parameters"]["Step"]["HadoopJarStep"]["Args"]
        usage = re.search(r"# Args: (.+)", self.step_script)
        assert usage is not None
        assert len(args) - 1 == len(usage.group(1).split())  # the first arg is the script

    def test_node_role_allows_what_publish_calls(self) -> None:
        called = aws_calls(ROOT / "profile_engine/publish.py", "client")
        assert called <= role_actions(self.template, "NodeRole", "dynamodb")

    def test_node_role_allows_what_the_import_calls(self) -> None:
        called = set()
        for module in ("publish_import", "generation_tables"):
            called |= aws_calls(ROOT / f"profile_engine/{module}.py", "client")
        # Waiters and paginators call DescribeTable and ListTables.
        called = called - {"GetWaiter", "GetPaginator"} | {"ListTables"}
        assert called <= role_actions(self.template, "NodeRole", "dynamodb")
        staged = aws_calls(ROOT / "profile_engine/import_files.py", "s3")
        assert staged == {"PutObject", "GetPaginator", "DeleteObjects"}
        # ListObjectsV2 is s3:ListBucket, DeleteObjects s3:DeleteObject per key; ImportTable
        # reads the files (s3:GetObject) as the caller.
        assert role_actions(self.template, "NodeRole", "s3") >= {
            "PutObject", "GetObject", "DeleteObject", "ListBucket"}
        script = self.step_script
        assert 'export PROFILE_ENGINE_PUBLISH_MODE="$PUBLISH_MODE"' in script
        assert 'export PROFILE_ENGINE_IMPORT_STAGING="$IMPORT_STAGING"' in script

    def test_cluster_is_always_terminated(self) -> None:
        states = self.template["Resources"]["NightlyRun"]["Properties"]["Definition"]["States"]
        run_step = states["RunProfileEngine"]
        assert run_step["Next"] == "Terminate"
        assert run_step["Catch"][0]["Next"] == "TerminateAfterFailure"
