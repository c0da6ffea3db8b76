"""The deployment template checked offline: infra/ (Bicep) and azure.yaml.

No Bicep compiler runs here, so ``pycep-parser`` is the syntax check. On the parsed trees the tests check
what a compiler would not: that every module main.bicep names exists and takes the parameters it is given,
that main.parameters.json only sets declared parameters, and above all that each service's app settings
agree with ``rtagent.settings.ENVIRONMENT``: every variable production needs is set on the service that
reads it, nothing else is set but the host's own platform settings, and no key reaches production where
Microsoft Entra ID works. The settings are collected from the parsed tree by following the expressions
(object literals, variables, module parameters, ``union``/``concat``/``items`` and ``for`` loops) from the
resource that applies them back to main.bicep, not by matching text.

The checks return lists of problems; the last tests break main.bicep in memory and make sure the checks
notice, so that a check that silently stopped looking would fail here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

from rtagent.settings import ENVIRONMENT, FUNCTIONS, WORKER

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
PARAMETERS = INFRA / "main.parameters.json"
AZURE_YAML = ROOT / "azure.yaml"

# Variables of rtagent.settings.ENVIRONMENT that production does not need, and why (one word):
#   key     a key or connection string: production authenticates with Entra ID (managed identity); never set
#   local   only for local, offline or non-Azure runs; never set
#   default the code's default is right in production; may be set
NOT_NEEDED: dict[str, str] = {
    "AZURE_SPEECH_KEY": "key",
    "AZURE_OPENAI_API_KEY": "key",
    "RTAGENT_LLM_API_KEY": "key",
    "AZURE_COSMOS_KEY": "key",
    "ACS_CONNECTION_STRING": "key",
    "ACS_ACCESS_KEY": "key",
    "RTAGENT_DATA_DIR": "local",
    "RTAGENT_LLM_BASE_URL": "local",
    "AZURE_OPENAI_API_VERSION": "default",
    "RTAGENT_LLM_TIMEOUT_S": "default",
    "RTAGENT_LLM_TURN_TIMEOUT_S": "default",
    "RTAGENT_STT_SEGMENTATION_SILENCE_MS": "default",
    "RTAGENT_ROUTER_FILE": "default",
    "RTAGENT_ROUTING_FILE": "default",
    "RTAGENT_AGENTS_DIR": "default",
    "ACS_CALLBACK_OPENID_URL": "default",
    "ACS_CALLBACK_ISSUER": "default",
    "RTAGENT_TELEMETRY": "default",
    "RTAGENT_TELEMETRY_PII": "default",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "default",
}
NEVER_SET = {"key", "local"}

# Settings the platform reads rather than our code: the Functions host's identity-based storage connection.
# (APPLICATIONINSIGHTS_CONNECTION_STRING, which the host reads too, is in ENVIRONMENT: rtagent.telemetry.)
PLATFORM: dict[str, set[str]] = {
    FUNCTIONS: {
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
    },
    WORKER: set(),
}

# Literal values production must have, per service.
PRODUCTION_VALUES: dict[str, dict[str, str]] = {
    FUNCTIONS: {"RTAGENT_STORE": "cosmos"},
    WORKER: {
        "RTAGENT_STT": "azure",
        "RTAGENT_TTS": "azure",
        "RTAGENT_DIALOG_ENGINE": "llm",
        "RTAGENT_STORE": "cosmos",
        "RTAGENT_LLM_AUTH": "entra",
    },
}

# The Bicep resource that carries each service's settings, and the azd host that deploys it.
SERVICE_RESOURCE = {FUNCTIONS: "Microsoft.Web/sites/config", WORKER: "Microsoft.App/containerApps"}
AZD_HOST = {FUNCTIONS: "function", WORKER: "containerapp"}


class Unresolved(Exception):
    """An expression the settings walker does not follow (the template must keep settings literal)."""


@dataclass(frozen=True)
class Setting:
    value: Any
    """The parsed expression: a str for literals, identifiers and interpolated strings; a dict otherwise."""
    secret_ref: bool = False
    """A Container Apps secret reference (the value is then the Key Vault secret URI)."""


@dataclass(frozen=True)
class Scope:
    tree: dict[str, Any]
    where: str
    bindings: dict[str, Any]
    """Module parameters as the caller passes them (expressions in ``parent``)."""
    parent: Scope | None = None


@dataclass(frozen=True)
class Service:
    role: str
    azd_name: str
    module: str
    settings: dict[str, Setting]


# ------------------------------------------------------------------------------------------ parsing


@cache
def _parser() -> BicepParser:
    return BicepParser()


def parse(path: Path, text: str | None = None) -> dict[str, Any]:
    return _parser().parse(text=text if text is not None else path.read_text())


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def body(element: dict[str, Any]) -> dict[str, Any]:
    """A module's or resource's own object, under an ``if (...)`` condition or not ({} for loops)."""
    config = element["config"]
    if "loop_type" in config:
        return {}
    if set(config) == {"condition", "config"}:
        return config["config"]
    return config


def unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def settings_of(expr: Any, scope: Scope) -> dict[str, Setting]:
    """The names (and value expressions) an app-settings or env expression yields, followed to literals."""
    if isinstance(expr, str):
        variables = scope.tree.get("variables", {})
        if expr in variables:
            return settings_of(variables[expr]["value"], scope)
        params = scope.tree.get("parameters", {})
        if expr in params:
            if expr in scope.bindings and scope.parent is not None:
                return settings_of(scope.bindings[expr], scope.parent)
            if params[expr]["default"] is not None:
                return settings_of(params[expr]["default"], scope)
        raise Unresolved(f"{scope.where}: cannot follow {expr!r} to its settings")
    if not isinstance(expr, dict):
        raise Unresolved(f"{scope.where}: settings must be an object, got {expr!r}")
    if set(expr) == {"function"}:
        fn = expr["function"]
        if fn["type"] not in ("union", "concat", "items"):
            raise Unresolved(f"{scope.where}: cannot follow {fn['type']}() to its settings")
        merged: dict[str, Setting] = {}
        for arg in fn["parameters"].values():
            merged.update(settings_of(arg, scope))
        return merged
    if set(expr) == {"operator"}:
        op = expr["operator"]
        if op["type"] != "conditional":
            raise Unresolved(f"{scope.where}: cannot follow operator {op['type']} to its settings")
        operands = op["operands"]
        return settings_of(operands["false_value"], scope) | settings_of(operands["true_value"], scope)
    if "loop_type" in expr:
        # [for item in items(X): { name: item.key, value: item.value }] or { ..., secretRef: ... }
        if expr["loop_type"]["type"] != "array":
            raise Unresolved(f"{scope.where}: unexpected loop {expr['loop_type']['type']}")
        source = settings_of(expr["loop_type"]["detail"]["array_name"], scope)
        secret = "secretRef" in expr["config"]
        return {name: Setting(s.value, secret) for name, s in source.items()}
    return {unquote(key): Setting(value) for key, value in expr.items()}


def load_services(main_text: str | None = None) -> dict[str, Service]:
    """Each service's settings, from main.bicep (or ``main_text``) through the modules it calls."""
    main = parse(MAIN, main_text)
    main_scope = Scope(main, "main.bicep", {})
    found: dict[str, Service] = {}
    for module_name, module in main.get("modules", {}).items():
        call = body(module)
        path = INFRA / module["detail"]["path"]
        tree = parse(path)
        scope = Scope(tree, path.relative_to(INFRA).as_posix(), call.get("params", {}), main_scope)
        for resource in tree.get("resources", {}).values():
            res = body(resource)
            if resource["existing"] or not res:
                continue
            if resource["type"] == SERVICE_RESOURCE[FUNCTIONS] and res.get("name") == "appsettings":
                role, settings = FUNCTIONS, settings_of(res["properties"], scope)
            elif resource["type"] == SERVICE_RESOURCE[WORKER]:
                role, settings = WORKER, {}
                for container in res["properties"]["template"]["containers"]:
                    settings |= settings_of(container.get("env", {}), scope)
            else:
                continue
            assert role not in found, f"two modules set {role} settings: {found[role].module}, {scope.where}"
            default_name = tree.get("parameters", {}).get("serviceName", {}).get("default")
            azd_name = str(call.get("params", {}).get("serviceName") or default_name)
            found[role] = Service(role, azd_name, f"{module_name} ({scope.where})", settings)
    return found


# ------------------------------------------------------------------------------------------ checks


def missing_settings(services: dict[str, Service]) -> list[str]:
    problems = []
    for var in ENVIRONMENT:
        if var.name in NOT_NEEDED:
            continue
        for role in var.used_by:
            if role not in services:
                problems.append(f"no Bicep resource carries the {role} settings")
            elif var.name not in services[role].settings:
                problems.append(f"{var.name} ({var.help}) is not set for {role} ({services[role].module})")
    return problems


def unexpected_settings(services: dict[str, Service]) -> list[str]:
    readers = {var.name: var.used_by for var in ENVIRONMENT}
    problems = []
    for role, service in services.items():
        for name in service.settings:
            reason = NOT_NEEDED.get(name)
            if reason in NEVER_SET:
                problems.append(f"{name} is set for {role}, but production must not ({reason})")
            elif name in readers:
                if role not in readers[name]:
                    problems.append(f"{name} is set for {role}, but only {', '.join(readers[name])} read it")
            elif name not in PLATFORM[role]:
                problems.append(
                    f"{name} is set for {role}, but it is neither in rtagent.settings.ENVIRONMENT for {role} "
                    "nor in this test's PLATFORM allow-list"
                )
    return problems


def wrong_values(services: dict[str, Service]) -> list[str]:
    problems = []
    for role, expected in PRODUCTION_VALUES.items():
        for name, value in expected.items():
            got = services[role].settings.get(name)
            if got is None or got.value != value:
                problems.append(f"{role}: {name} must be {value!r}, got {got and got.value!r}")
    secrets = {var.name for var in ENVIRONMENT if var.secret and var.name not in NOT_NEEDED}
    for role, service in services.items():
        for name in secrets & set(service.settings):
            setting = service.settings[name]
            if role == FUNCTIONS and not str(setting.value).startswith("@Microsoft.KeyVault(SecretUri="):
                problems.append(f"{role}: secret {name} must be a Key Vault reference, got {setting.value!r}")
            if role == WORKER and not setting.secret_ref:
                problems.append(f"{role}: secret {name} must come from a Key Vault secret (secretRef)")
    media = services[FUNCTIONS].settings.get("RTAGENT_MEDIA_URL")
    if media is None or not (str(media.value).startswith("wss://") and str(media.value).endswith("/ws/acs")):
        problems.append(f"RTAGENT_MEDIA_URL must be wss://<worker>/ws/acs, got {media and media.value!r}")
    return problems


def all_problems(main_text: str | None = None) -> list[str]:
    services = load_services(main_text)
    return missing_settings(services) + unexpected_settings(services) + wrong_values(services)


# -------------------------------------------------------------------------------------- syntax, wiring


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_every_bicep_file_parses(path: Path) -> None:
    try:
        parse(path)
    except Exception as exc:
        pytest.fail(f"{path.relative_to(ROOT)}: Bicep syntax error: {type(exc).__name__}: {exc}")


def test_there_is_a_main_template_with_modules() -> None:
    assert MAIN.exists() and len(bicep_files()) > 1


def test_main_calls_modules_that_exist_with_the_parameters_they_declare() -> None:
    main = parse(MAIN)
    problems = []
    for name, module in main["modules"].items():
        path = INFRA / module["detail"]["path"]
        if not path.exists():
            problems.append(f"module {name}: {path.relative_to(ROOT)} does not exist")
            continue
        declared = parse(path).get("parameters", {})
        passed = set(body(module).get("params", {}))
        required = {p for p, spec in declared.items() if spec["default"] is None}
        problems += [
            f"module {name}: {path.name} has no parameter {p!r}" for p in sorted(passed - set(declared))
        ]
        problems += [f"module {name}: required parameter {p!r} not passed" for p in sorted(required - passed)]
    assert not problems, "\n".join(problems)


def test_main_parameters_json_sets_only_declared_parameters_and_every_required_one() -> None:
    declared = parse(MAIN)["parameters"]
    given = json.loads(PARAMETERS.read_text())["parameters"]
    unknown = sorted(set(given) - set(declared))
    assert not unknown, f"main.parameters.json sets parameters main.bicep does not declare: {unknown}"
    omitted = sorted(p for p, spec in declared.items() if spec["default"] is None and p not in given)
    assert not omitted, f"main.bicep parameters with no default that main.parameters.json omits: {omitted}"


# ------------------------------------------------------------------------------------- the environment


def test_each_service_gets_every_setting_production_needs() -> None:
    problems = missing_settings(load_services())
    assert not problems, "\n".join(problems)


def test_each_service_gets_only_what_its_code_or_its_platform_reads_and_no_keys() -> None:
    problems = unexpected_settings(load_services())
    assert not problems, "\n".join(problems)


def test_production_values_and_secrets_from_key_vault() -> None:
    problems = wrong_values(load_services())
    assert not problems, "\n".join(problems)


def test_the_not_needed_list_names_only_real_variables() -> None:
    known = {var.name for var in ENVIRONMENT}
    stale = sorted(set(NOT_NEEDED) - known)
    assert not stale, f"NOT_NEEDED names variables rtagent.settings.ENVIRONMENT no longer has: {stale}"


def test_the_openai_deployments_are_ones_the_router_declares() -> None:
    main = parse(MAIN)
    deployments = main["parameters"]["openAiDeployments"]["default"]
    router = yaml.safe_load((ROOT / "agents" / "router.yaml").read_text())
    unknown = sorted(d["name"] for d in deployments if d["name"] not in router["deployments"])
    assert deployments and not unknown, f"deployments agents/router.yaml does not declare: {unknown}"
    listed = load_services()[WORKER].settings["RTAGENT_LLM_DEPLOYMENTS"].value
    assert "openAiDeployments" in json.dumps(listed), "RTAGENT_LLM_DEPLOYMENTS must list openAiDeployments"


def test_the_event_subscription_delivers_incoming_calls_to_the_event_grid_function() -> None:
    import functions.app as app_module
    from functions.events import INCOMING_CALL

    main = parse(MAIN)
    (call,) = [m for m in main["modules"].values() if m["detail"]["path"] == "modules/eventgrid.bicep"]
    name = body(call)["params"]["functionName"]
    function = getattr(app_module, name).build()
    assert function.get_function_name() == name
    assert "eventGridTrigger" in {b["type"] for b in function.get_bindings_dict()["bindings"]}
    resources = parse(INFRA / "modules" / "eventgrid.bicep")["resources"].values()
    kind = "Microsoft.EventGrid/systemTopics/eventSubscriptions"
    (subscription,) = [r for r in resources if r["type"] == kind]
    props = body(subscription)["properties"]
    assert props["destination"]["endpointType"] == "AzureFunction"
    assert props["filter"]["includedEventTypes"] == [INCOMING_CALL]
    assert "deployEventSubscription" in main["parameters"], "the subscription's switch (eventgrid.bicep)"


def test_the_cosmos_containers_are_the_ones_the_store_uses() -> None:
    store = pytest.importorskip("rtagent.state.cosmos", reason="the Cosmos DB store is not in this checkout")
    containers = parse(INFRA / "modules" / "cosmos.bicep")["variables"]["containers"]["value"]
    deployed = {c["name"]: c["partitionKey"] for c in containers}
    assert deployed == store.PARTITION_KEYS, "cosmos.bicep containers and partition keys vs the store's"


# ---------------------------------------------------------------------------------------------- azd


def azd_services() -> dict[str, Any]:
    return yaml.safe_load(AZURE_YAML.read_text())["services"]


def test_azure_yaml_names_both_services_with_their_hosts_and_paths() -> None:
    services = azd_services()
    bicep = load_services()
    for role, host in AZD_HOST.items():
        name = bicep[role].azd_name
        assert name in services, f"azure.yaml has no service {name!r} (the {role} Bicep module's serviceName)"
        assert services[name]["host"] == host, f"azure.yaml: {name} must have host: {host}"
        assert (ROOT / services[name]["project"]).is_dir(), f"azure.yaml: {name}: project folder missing"
    api = ROOT / services[bicep[FUNCTIONS].azd_name]["project"]
    assert (api / "function_app.py").exists() and (api / "host.json").exists(), "the Functions app root"
    docker = services[bicep[WORKER].azd_name]["docker"]
    assert (ROOT / services[bicep[WORKER].azd_name]["project"] / docker["context"]).is_dir()
    for hook in azure_yaml_hook_scripts():
        assert (ROOT / hook).exists(), f"azure.yaml hook {hook} does not exist"


def azure_yaml_hook_scripts() -> list[str]:
    hooks = yaml.safe_load(AZURE_YAML.read_text()).get("hooks", {})
    return sorted({os_hook["run"] for hook in hooks.values() for os_hook in hook.values()})


def test_the_worker_dockerfile_exists() -> None:
    service = azd_services()[load_services()[WORKER].azd_name]
    dockerfile = ROOT / service["project"] / service["docker"]["path"]
    if not dockerfile.exists():
        pytest.skip(f"{dockerfile.relative_to(ROOT)} is not written yet (another change adds it)")
    assert dockerfile.is_file()


# ------------------------------------------------------------------------ the checks themselves can fail


def broken(old: str, new: str) -> str:
    """main.bicep with one edit; the edit must apply exactly once (else this test is stale, not passing)."""
    text = MAIN.read_text()
    assert text.count(old) == 1, f"main.bicep no longer contains {old!r} exactly once: update this test"
    return text.replace(old, new)


def test_a_missing_setting_is_caught() -> None:
    problems = all_problems(broken("      RTAGENT_MEDIA_URL: 'wss://${workerFqdn}/ws/acs'\n", ""))
    assert any(p.startswith("RTAGENT_MEDIA_URL (") and "functions" in p for p in problems), problems


def test_a_key_or_a_setting_for_the_other_service_is_caught() -> None:
    key = "      ACS_ENDPOINT: acs.outputs.endpoint\n"
    text = broken(key, key + "      ACS_ACCESS_KEY: 'k'\n")
    assert any("ACS_ACCESS_KEY is set for functions" in p for p in all_problems(text))
    worker_line = "      RTAGENT_TTS: 'azure'\n"
    text = broken(worker_line, worker_line + "      RTAGENT_CALLBACK_URL: 'x'\n")
    assert any("RTAGENT_CALLBACK_URL is set for worker" in p for p in all_problems(text))


def test_a_wrong_value_or_a_plain_secret_is_caught() -> None:
    problems = all_problems(broken("      RTAGENT_STT: 'azure'\n", "      RTAGENT_STT: 'local'\n"))
    assert any("RTAGENT_STT must be 'azure'" in p for p in problems), problems
    text = broken(
        "      RTAGENT_MEDIA_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.mediaSecretUri})'\n",
        "      RTAGENT_MEDIA_SECRET: 'plain'\n",
    )
    assert any("must be a Key Vault reference" in p for p in all_problems(text))


def test_a_syntax_error_is_caught() -> None:
    scope = "targetScope = 'subscription'\n"
    with pytest.raises(Exception):  # noqa: B017 - pycep raises lark's exceptions
        parse(MAIN, broken(scope, scope + "param broken string =\n"))
