"""Every setting the product reads from the environment, in one place.

``ENVIRONMENT`` lists each variable (who reads it, its default, whether it is a secret); ``.env.sample`` and
the infrastructure's app settings are checked against it. The ``*Settings.from_env`` readers turn the
environment into typed settings and fail with a ``SettingsError`` that names the variable. With nothing set,
everything runs locally and offline: the embedded engines, the SQLite store in ``.rtagent``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

FUNCTIONS = "functions"
WORKER = "worker"


@dataclass(frozen=True, slots=True)
class EnvVar:
    name: str
    help: str
    default: str = ""
    used_by: tuple[str, ...] = (WORKER,)
    """Which deployed service reads it: ``functions`` (the control plane), ``worker`` (the media worker)."""
    secret: bool = False
    read_by_sdk: bool = False
    """Read by an Azure SDK or host rather than by our code (documented here so that infra can set it)."""


BOTH = (FUNCTIONS, WORKER)

ENVIRONMENT: tuple[EnvVar, ...] = (
    # --- engines -------------------------------------------------------------------------------------------
    EnvVar("RTAGENT_DIALOG_ENGINE", "dialog engine: local (offline form engine) or llm", "local"),
    EnvVar("RTAGENT_STT", "speech recognition: local (whisper) or azure (Azure AI Speech)", "local"),
    EnvVar("RTAGENT_TTS", "speech synthesis: local (piper) or azure (Azure AI Speech)", "local"),
    EnvVar("AZURE_SPEECH_REGION", "Azure AI Speech region, e.g. eastus (or set AZURE_SPEECH_ENDPOINT)"),
    EnvVar("AZURE_SPEECH_ENDPOINT", "Azure AI Speech endpoint (custom domain); wins over the region"),
    EnvVar("AZURE_SPEECH_KEY", "Azure AI Speech key; unset: Entra ID (managed identity)", secret=True),
    EnvVar("AZURE_SPEECH_RESOURCE_ID", "the Speech resource's ARM id (Entra ID auth, with the region)"),
    EnvVar("AZURE_SPEECH_LANGUAGE", "recognition language", "en-US"),
    EnvVar("RTAGENT_STT_SEGMENTATION_SILENCE_MS", "Azure STT: silence that ends a phrase (ms)", "300"),
    # --- model ---------------------------------------------------------------------------------------------
    EnvVar("AZURE_OPENAI_ENDPOINT", "Azure OpenAI endpoint, https://<resource>.openai.azure.com"),
    EnvVar("AZURE_OPENAI_API_KEY", "Azure OpenAI key; unset: Entra ID (managed identity)", secret=True),
    EnvVar("AZURE_OPENAI_API_VERSION", "Azure OpenAI data-plane API version", "2024-10-21"),
    EnvVar("RTAGENT_LLM_AUTH", "key or entra (default: key when a key is set, else entra)"),
    EnvVar("RTAGENT_LLM_BASE_URL", "any OpenAI-compatible endpoint instead of Azure OpenAI (…/v1)"),
    EnvVar(
        "RTAGENT_LLM_API_KEY",
        "the key for RTAGENT_LLM_BASE_URL (wins over AZURE_OPENAI_API_KEY)",
        secret=True,
    ),
    EnvVar("RTAGENT_LLM_DEPLOYMENTS", "comma-separated deployments that exist; the router uses only these"),
    EnvVar("RTAGENT_LLM_TIMEOUT_S", "HTTP timeout per model request (s)", "10"),
    EnvVar("RTAGENT_LLM_TURN_TIMEOUT_S", "hard limit on one caller turn (s)", "8"),
    EnvVar("RTAGENT_ROUTER_FILE", "another model router YAML (default agents/router.yaml)"),
    # --- state ---------------------------------------------------------------------------------------------
    EnvVar("RTAGENT_STORE", "where calls are kept: sqlite (local) or cosmos", "sqlite", BOTH),
    EnvVar("RTAGENT_DATA_DIR", "the local data folder (SQLite store, tool data)", ".rtagent", BOTH),
    EnvVar(
        "AZURE_COSMOS_ENDPOINT", "Cosmos DB account endpoint, https://<account>.documents.azure.com", "", BOTH
    ),
    EnvVar("AZURE_COSMOS_KEY", "Cosmos DB key; unset: Entra ID (managed identity)", "", BOTH, secret=True),
    EnvVar("AZURE_COSMOS_DATABASE", "Cosmos DB database name", "rtagent", BOTH),
    # --- control plane -------------------------------------------------------------------------------------
    EnvVar("ACS_CONNECTION_STRING", "ACS: endpoint=...;accesskey=...", "", (FUNCTIONS,), secret=True),
    EnvVar("ACS_ENDPOINT", "ACS endpoint (with ACS_ACCESS_KEY, or alone for Entra ID)", "", (FUNCTIONS,)),
    EnvVar("ACS_ACCESS_KEY", "ACS access key", "", (FUNCTIONS,), secret=True),
    EnvVar("RTAGENT_CALLBACK_URL", "the Functions app's public base URL", "", (FUNCTIONS,)),
    EnvVar("RTAGENT_MEDIA_URL", "the media worker's WebSocket, wss://<worker>/ws/acs", "", (FUNCTIONS,)),
    EnvVar(
        "RTAGENT_MEDIA_SECRET", "shared by both: signs media URLs and worker requests", "", BOTH, secret=True
    ),
    EnvVar("RTAGENT_MEDIA_RATE", "PCM rate ACS streams at: 16000 or 24000", "16000", (FUNCTIONS,)),
    EnvVar(
        "ACS_CALLBACK_AUDIENCE",
        "audience of ACS callback tokens (the ACS immutable resource id)",
        "",
        (FUNCTIONS,),
    ),
    EnvVar("ACS_CALLBACK_OPENID_URL", "where ACS publishes its callback signing keys", "", (FUNCTIONS,)),
    EnvVar("ACS_CALLBACK_ISSUER", "expected issuer of callback tokens (default: ACS's)", "", (FUNCTIONS,)),
    EnvVar("RTAGENT_ROUTING_FILE", "another routing table (default agents/routing.yaml)", "", (FUNCTIONS,)),
    EnvVar("RTAGENT_AGENTS_DIR", "another agents folder (default agents/)", "", BOTH),
    EnvVar("RTAGENT_CONTROL_URL", "the Functions app's base URL, for escalations and session ends"),
    EnvVar("RTAGENT_DRAIN_S", "on SIGTERM, how long live calls may run on before they are closed (s)", "120"),
    # --- identity ------------------------------------------------------------------------------------------
    EnvVar("AZURE_CLIENT_ID", "client id of the user-assigned managed identity", "", BOTH, read_by_sdk=True),
    # --- telemetry -----------------------------------------------------------------------------------------
    EnvVar(
        "RTAGENT_TELEMETRY",
        "where traces and metrics go: auto (App Insights, else OTLP, when set), off, console, otlp or azure",
        "auto",
        BOTH,
    ),
    EnvVar(
        "RTAGENT_TELEMETRY_PII",
        "true: transcripts, record values and whole caller numbers in telemetry",
        "false",
        BOTH,
    ),
    EnvVar("APPLICATIONINSIGHTS_CONNECTION_STRING", "Application Insights: traces, metrics, logs", "", BOTH),
    EnvVar(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "an OTLP/HTTP collector, http://host:4318 (needs opentelemetry-exporter-otlp-proto-http)",
        "",
        BOTH,
        read_by_sdk=True,
    ),
)

ENV_BY_NAME: dict[str, EnvVar] = {v.name: v for v in ENVIRONMENT}


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the variable and what it should be."""


class Env:
    """Typed reads of environment variables, each failing with a ``SettingsError`` that names the variable."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env

    def get(self, name: str) -> str | None:
        """The value, stripped; None when unset or blank."""
        if name not in ENV_BY_NAME:  # a programming error: every variable read is listed (and documented)
            raise KeyError(f"{name} is not in rtagent.settings.ENVIRONMENT")
        value = self._env.get(name, "").strip()
        return value or None

    def need(self, name: str, why: str = "") -> str:
        value = self.get(name)
        if value is None:
            raise SettingsError(f"{name} is not set" + (f" ({why})" if why else ""))
        return value

    def choice(self, name: str, options: tuple[str, ...]) -> str:
        value = self.get(name) or ENV_BY_NAME[name].default
        if value not in options:
            raise SettingsError(f"{name} must be one of {', '.join(options)}, got {value!r}")
        return value

    def seconds(self, name: str, default: float) -> float:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not (value > 0 and math.isfinite(value)):
            raise SettingsError(f"{name} must be a positive number of seconds, got {raw!r}")
        return value

    def whole(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = lo - 1
        if not lo <= value <= hi:
            raise SettingsError(f"{name} must be a whole number from {lo} to {hi}, got {raw!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.get(name)
        if raw is None:
            return default
        value = raw.lower()
        if value not in ("true", "false", "1", "0", "yes", "no"):
            raise SettingsError(f"{name} must be true or false, got {raw!r}")
        return value in ("true", "1", "yes")

    def path(self, name: str) -> Path | None:
        value = self.get(name)
        return Path(value).expanduser() if value else None


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$RTAGENT_DATA_DIR`` if set, else ``.rtagent`` under the current directory (not created here)."""
    return Env(env).path("RTAGENT_DATA_DIR") or Path.cwd() / ".rtagent"


# ---------------------------------------------------------------------------------------------- speech

SpeechKind = Literal["local", "azure"]


@dataclass(frozen=True, slots=True)
class SpeechSettings:
    """Which speech engines run, and how Azure AI Speech is reached when they are ``azure``."""

    stt: SpeechKind = "local"
    tts: SpeechKind = "local"
    region: str | None = None
    endpoint: str | None = None
    key: str | None = None
    resource_id: str | None = None
    language: str = "en-US"
    segmentation_silence_ms: int = 300

    @property
    def uses_azure(self) -> bool:
        return "azure" in (self.stt, self.tts)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SpeechSettings:
        e = Env(env)
        s = cls(
            stt=e.choice("RTAGENT_STT", ("local", "azure")),  # type: ignore[arg-type]
            tts=e.choice("RTAGENT_TTS", ("local", "azure")),  # type: ignore[arg-type]
            region=e.get("AZURE_SPEECH_REGION"),
            endpoint=e.get("AZURE_SPEECH_ENDPOINT"),
            key=e.get("AZURE_SPEECH_KEY"),
            resource_id=e.get("AZURE_SPEECH_RESOURCE_ID"),
            language=e.get("AZURE_SPEECH_LANGUAGE") or "en-US",
            segmentation_silence_ms=e.whole("RTAGENT_STT_SEGMENTATION_SILENCE_MS", 300, 100, 5000),
        )
        if s.uses_azure:
            if s.key and not (s.region or s.endpoint):
                raise SettingsError("Azure AI Speech needs AZURE_SPEECH_REGION or AZURE_SPEECH_ENDPOINT")
            if not s.key and not (s.region and s.resource_id):
                # Entra ID tokens go to the regional endpoint as aad#<resource id>#<token>.
                raise SettingsError(
                    "Azure AI Speech needs AZURE_SPEECH_KEY, or for Entra ID (managed identity) "
                    "AZURE_SPEECH_REGION and AZURE_SPEECH_RESOURCE_ID"
                )
        return s


# ----------------------------------------------------------------------------------------------- model

DEFAULT_API_VERSION = "2024-10-21"
"""The Azure OpenAI data-plane API version used unless ``AZURE_OPENAI_API_VERSION`` says otherwise."""
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"


@dataclass(frozen=True, slots=True)
class LlmSettings:
    """Where the model endpoint is and how to authenticate (``from_env`` reads the environment).

    Azure OpenAI: ``endpoint`` (``https://<resource>.openai.azure.com``), ``api_version``, and either
    ``api_key`` (``auth="key"``) or Microsoft Entra ID (``auth="entra"``: ``DefaultAzureCredential`` from
    ``azure-identity``, token scope ``entra_scope``). Any OpenAI-compatible server: ``base_url`` (it wins over
    ``endpoint``) and ``api_key``.
    """

    endpoint: str | None = None
    api_key: str | None = None
    api_version: str = DEFAULT_API_VERSION
    auth: Literal["key", "entra"] | None = None
    """None: ``key`` when ``api_key`` is set, else ``entra``."""
    base_url: str | None = None
    entra_scope: str = ENTRA_SCOPE
    request_timeout_s: float = 10.0
    """The HTTP client's timeout per request (s); the engine's per-turn timeout is usually shorter."""
    turn_timeout_s: float = 8.0
    """For the engine: the hard limit on one caller turn (s)."""
    router_file: str | None = None
    """For the engine: the router YAML (None: the built-in ``agents/router.yaml``)."""
    deployments: tuple[str, ...] | None = None
    """The deployments that exist (None: every deployment the router names)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LlmSettings:
        e = Env(env)
        auth = e.get("RTAGENT_LLM_AUTH")
        if auth is not None and auth not in ("key", "entra"):
            raise SettingsError(f"RTAGENT_LLM_AUTH must be key or entra, got {auth!r}")
        listed = e.get("RTAGENT_LLM_DEPLOYMENTS")
        deployments = tuple(d.strip() for d in listed.split(",") if d.strip()) if listed else None
        return cls(
            endpoint=e.get("AZURE_OPENAI_ENDPOINT"),
            api_key=e.get("RTAGENT_LLM_API_KEY") or e.get("AZURE_OPENAI_API_KEY"),
            api_version=e.get("AZURE_OPENAI_API_VERSION") or DEFAULT_API_VERSION,
            auth=auth,  # type: ignore[arg-type]
            base_url=e.get("RTAGENT_LLM_BASE_URL"),
            request_timeout_s=e.seconds("RTAGENT_LLM_TIMEOUT_S", 10.0),
            turn_timeout_s=e.seconds("RTAGENT_LLM_TURN_TIMEOUT_S", 8.0),
            router_file=e.get("RTAGENT_ROUTER_FILE"),
            deployments=deployments or None,
        )


DialogKind = Literal["local", "llm"]
DIALOG_KINDS: tuple[str, ...] = ("local", "llm")


def dialog_kind(env: Mapping[str, str] | None = None) -> DialogKind:
    """``$RTAGENT_DIALOG_ENGINE`` (``local`` or ``llm``), ``local`` when unset."""
    return Env(env).choice("RTAGENT_DIALOG_ENGINE", DIALOG_KINDS)  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------- state

StoreKind = Literal["sqlite", "cosmos"]


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Where calls, transcripts, records and caller memory are kept."""

    kind: StoreKind = "sqlite"
    data_dir: Path | None = None
    """SQLite: the data folder (None: ``RTAGENT_DATA_DIR`` or ``.rtagent``)."""
    cosmos_endpoint: str | None = None
    cosmos_key: str | None = None
    """None: Entra ID (``DefaultAzureCredential``)."""
    cosmos_database: str = "rtagent"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StoreSettings:
        e = Env(env)
        kind = e.choice("RTAGENT_STORE", ("sqlite", "cosmos"))
        s = cls(
            kind=kind,  # type: ignore[arg-type]
            data_dir=e.path("RTAGENT_DATA_DIR"),
            cosmos_endpoint=e.get("AZURE_COSMOS_ENDPOINT"),
            cosmos_key=e.get("AZURE_COSMOS_KEY"),
            cosmos_database=e.get("AZURE_COSMOS_DATABASE") or "rtagent",
        )
        if kind == "cosmos" and not s.cosmos_endpoint:
            raise SettingsError("RTAGENT_STORE=cosmos needs AZURE_COSMOS_ENDPOINT")
        return s


# ----------------------------------------------------------------------------------------- control plane

ACS_OPENID_URL = (
    "https://acscallautomation.communication.azure.com/calling/.well-known/acsopenidconfiguration"
)


@dataclass(frozen=True, slots=True)
class ControlSettings:
    """What the Functions app reads: ACS, its own public URL, the media worker, callback auth."""

    callback_url: str
    media_url: str
    media_secret: bytes
    callback_audience: str
    acs_connection_string: str | None = None
    acs_endpoint: str | None = None
    acs_access_key: str | None = None
    media_rate_hz: int = 16000
    callback_openid_url: str = ACS_OPENID_URL
    callback_issuer: str | None = None
    routing_file: Path | None = None
    agents_dir: Path | None = None
    data_dir: Path | None = None
    store: StoreSettings | None = None
    """Where call records are kept; None: SQLite in ``data_dir``."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ControlSettings:
        e = Env(env)
        get, need, path = e.get, e.need, e.path
        rate = e.choice("RTAGENT_MEDIA_RATE", ("16000", "24000"))
        if not get("ACS_CONNECTION_STRING") and not get("ACS_ENDPOINT"):
            raise SettingsError(
                "set ACS_CONNECTION_STRING, or ACS_ENDPOINT (with ACS_ACCESS_KEY or Entra ID)"
            )
        return cls(
            callback_url=need("RTAGENT_CALLBACK_URL").rstrip("/"),
            media_url=need("RTAGENT_MEDIA_URL"),
            media_secret=need("RTAGENT_MEDIA_SECRET").encode(),
            callback_audience=need("ACS_CALLBACK_AUDIENCE"),
            acs_connection_string=get("ACS_CONNECTION_STRING"),
            acs_endpoint=get("ACS_ENDPOINT"),
            acs_access_key=get("ACS_ACCESS_KEY"),
            media_rate_hz=int(rate),
            callback_openid_url=get("ACS_CALLBACK_OPENID_URL") or ACS_OPENID_URL,
            callback_issuer=get("ACS_CALLBACK_ISSUER"),
            routing_file=path("RTAGENT_ROUTING_FILE"),
            agents_dir=path("RTAGENT_AGENTS_DIR"),
            data_dir=path("RTAGENT_DATA_DIR"),
            store=StoreSettings.from_env(env),
        )


# ---------------------------------------------------------------------------------------- media worker


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """What the media worker reads besides its engines."""

    media_secret: bytes | None = None
    """None: local mode, unsigned sessions from loopback only."""
    control_url: str | None = None
    agents_dir: Path | None = None
    drain_s: float = 120.0
    """On SIGTERM: how long live calls may go on before the worker closes them (the platform's grace
    period must be longer)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        e = Env(env)
        secret = e.get("RTAGENT_MEDIA_SECRET")
        return cls(
            media_secret=secret.encode() if secret else None,
            control_url=e.get("RTAGENT_CONTROL_URL"),
            agents_dir=e.path("RTAGENT_AGENTS_DIR"),
            drain_s=e.seconds("RTAGENT_DRAIN_S", 120.0),
        )


# ------------------------------------------------------------------------------------------- telemetry

TelemetryKind = Literal["off", "console", "otlp", "azure"]
TELEMETRY_CHOICES: tuple[str, ...] = ("auto", "off", "console", "otlp", "azure")


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """Where traces, metrics and logs are exported (``rtagent.telemetry``), and whether they may hold PII.

    ``RTAGENT_TELEMETRY=auto`` (the default) exports to Application Insights when
    ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set, else to ``OTEL_EXPORTER_OTLP_ENDPOINT`` when that is
    set, else nowhere. An explicit choice wins over what is set (``off`` turns telemetry off in a shell that
    has a connection string; ``console`` prints spans and metrics on stderr).
    """

    exporter: TelemetryKind = "off"
    pii: bool = False
    """Transcripts, record values and whole caller numbers may appear in telemetry (never by default)."""
    connection_string: str | None = None
    otlp_endpoint: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TelemetrySettings:
        e = Env(env)
        choice = e.choice("RTAGENT_TELEMETRY", TELEMETRY_CHOICES)
        connection = e.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
        otlp = e.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if choice == "auto":
            choice = "azure" if connection else "otlp" if otlp else "off"
        if choice == "azure" and not connection:
            raise SettingsError("RTAGENT_TELEMETRY=azure needs APPLICATIONINSIGHTS_CONNECTION_STRING")
        if choice == "otlp" and not otlp:
            raise SettingsError("RTAGENT_TELEMETRY=otlp needs OTEL_EXPORTER_OTLP_ENDPOINT")
        return cls(
            exporter=choice,  # type: ignore[arg-type]
            pii=e.flag("RTAGENT_TELEMETRY_PII", False),
            connection_string=connection,
            otlp_endpoint=otlp,
        )
