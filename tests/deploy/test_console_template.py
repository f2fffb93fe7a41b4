"""The console's part of deploy/ecs: its Fargate service agrees with the code (settings,
port, health endpoint, entry point, the AWS calls it makes) and sits behind the internal
load balancer's OIDC sign-in."""

from __future__ import annotations

import re
from typing import Any

from loopback import ROOT
from recsvc.console.app import build_app
from recsvc.console.readers.records import AUDIT_PK, EXPORTS_PK
from recsvc.console.settings import ConsoleSettings
from tests.deploy.test_templates import DOCKERFILE, aws_calls, fields, load, role_actions

TEMPLATE = load(ROOT / "deploy/ecs/template.yaml")
RESOURCES = TEMPLATE["Resources"]
CONTAINER = RESOURCES["ConsoleTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
ENV: dict[str, Any] = {e["Name"]: e["Value"] for e in CONTAINER["Environment"]}
SECRETS = {s["Name"] for s in CONTAINER["Secrets"]}


def test_every_variable_is_a_console_setting() -> None:
    assert (set(ENV) | SECRETS) <= fields(ConsoleSettings)  # type: ignore[arg-type]
    assert {"RECSVC_CONSOLE_TOKENS", "RECSVC_CONSOLE_SESSION_SECRET"} <= SECRETS
    literal = {k.removeprefix("RECSVC_CONSOLE_").lower(): v for k, v in ENV.items()
               if isinstance(v, str)}
    assert ConsoleSettings(**literal).cookie_secure


def test_the_console_runs_from_the_service_image_with_its_own_command() -> None:
    assert CONTAINER["EntryPoint"] == ["recsvc", "console"]
    assert CONTAINER["Image"] == {"Ref": "ImageUri"}
    text = DOCKERFILE.read_text()
    assert '"$1[service,console]"' in text
    assert "scripts/console_assets.sh" in text


def test_ports_and_health_agree_with_the_app() -> None:
    port = int(ENV["RECSVC_CONSOLE_PORT"])
    assert port == ConsoleSettings.model_fields["port"].default
    assert [m["ContainerPort"] for m in CONTAINER["PortMappings"]] == [port]
    group = RESOURCES["ConsoleTargetGroup"]["Properties"]
    assert group["Port"] == port
    service = RESOURCES["ConsoleService"]["Properties"]["LoadBalancers"][0]
    assert service["ContainerPort"] == port
    paths = {getattr(r, "path", "") for r in build_app(ConsoleSettings()).routes}
    assert group["HealthCheckPath"] in paths
    assert f"http://127.0.0.1:{port}{group['HealthCheckPath']}" in " ".join(
        CONTAINER["HealthCheck"]["Command"])


def test_the_load_balancer_signs_people_in_with_oidc_first() -> None:
    listener = RESOURCES["ConsoleListener"]["Properties"]
    assert listener["LoadBalancerArn"] == {"Ref": "LoadBalancer"}  # the internal one
    assert RESOURCES["LoadBalancer"]["Properties"]["Scheme"] == "internal"
    assert listener["Protocol"] == "HTTPS"
    first, second = sorted(listener["DefaultActions"], key=lambda a: a["Order"])
    assert first["Type"] == "authenticate-oidc"
    assert first["AuthenticateOidcConfig"]["OnUnauthenticatedRequest"] == "authenticate"
    assert second == {"Type": "forward", "Order": 2,
                      "TargetGroupArn": {"Ref": "ConsoleTargetGroup"}}


def test_the_console_reaches_every_service_task_by_name() -> None:
    registries = RESOURCES["Service"]["Properties"]["ServiceRegistries"]
    assert registries == [{"RegistryArn": {"Fn::GetAtt": ["ServiceDiscovery", "Arn"]}}]
    service_env = {e["Name"]: e["Value"] for e in RESOURCES["TaskDefinition"]["Properties"][
        "ContainerDefinitions"][0]["Environment"]}
    metrics = ENV["RECSVC_CONSOLE_METRICS_URLS"]["Fn::Sub"]
    assert f":{service_env['RECSVC_METRICS_PORT']}/metrics" in metrics
    assert ENV["RECSVC_CONSOLE_RECSVC_TARGET"]["Fn::Sub"].endswith(
        f":{service_env['RECSVC_PORT']}")


def test_task_role_allows_exactly_what_the_console_calls() -> None:
    reads = aws_calls(ROOT / "recsvc/store/dynamodb.py", "self._client")
    reads |= aws_calls(ROOT / "recsvc/console/readers/generation.py", "self._client")
    records = (ROOT / "recsvc/console/readers/records.py").read_text()
    writes = {"".join(p.title() for p in m.split("_"))
              for m in re.findall(r'_call\(\s*"([a-z_]+)"', records)}
    assert reads | writes == role_actions(TEMPLATE, "ConsoleTaskRole", "dynamodb")
    [records_policy] = [p for p in RESOURCES["ConsoleTaskRole"]["Properties"]["Policies"]
                        if p.get("PolicyName") == "write-console-records"]
    [statement] = records_policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "dynamodb:PutItem"
    keys = statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
    assert sorted(keys) == sorted([EXPORTS_PK, AUDIT_PK])
    assert {"PutObject", "GetObject", "DeleteObject"} <= role_actions(
        TEMPLATE, "ConsoleTaskRole", "s3")
    assert ENV["RECSVC_CONSOLE_EXPORT_URI"]["Fn::Sub"] == "s3://${ExportBucketName}/segments"
