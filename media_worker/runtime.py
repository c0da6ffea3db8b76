"""What one media-worker process shares between its calls: engines, the pacing clock, agent loading.

Engines are loaded once per process (models, child processes) and used by every call; what belongs to a call
(VAD state, the dialog) is created per call. Agent YAML is read again for every new call, so an edited agent
takes effect on the next call without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agents.dialog import DialogEngine
from agents.engines import DialogKind
from agents.spec import AgentSpec
from media_worker.engines.base import (
    ENGINE_RATE_HZ,
    SpeechToText,
    TextToSpeech,
    VadStream,
    Voice,
    VoiceActivityDetector,
)
from media_worker.engines.tts_cache import CachedTts
from media_worker.escalation import ControlPlaneSink, EscalationSink, RecordingEscalationSink
from media_worker.pipeline.agent import split_sentences
from media_worker.pipeline.pacer import Ticker
from media_worker.pipeline.vad import VadConfig
from media_worker.records import caller_history, keep_session
from media_worker.turn_policy import TurnConfig
from rtagent.settings import SpeechSettings, StoreSettings
from rtagent.state import StateStore, open_store

if TYPE_CHECKING:
    from media_worker.session import CallSummary

log = logging.getLogger(__name__)

EngineKind = Literal["local", "simulated"]


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    engines: EngineKind = "local"
    """``local``: the embedded offline engines. ``simulated``: remote-style stubs (load tests only)."""
    agents_dir: Path | None = None
    tts_processes: int = 2
    lead_ms: int = 100
    vad: VadConfig = field(default_factory=VadConfig)
    endpoint_ms: int | None = None
    """Overrides every agent's endpoint window when set."""
    dialog: DialogKind = "local"
    """``local``: the offline form engine. ``llm``: the LLM engine (``agents.engines``)."""
    data_dir: Path | None = None
    media_secret: bytes | None = None
    """The secret the control plane signs media URLs with (``RTAGENT_MEDIA_SECRET``). None: local mode,
    unsigned sessions from loopback only."""
    control_url: str | None = None
    """The Functions app's base URL (``RTAGENT_CONTROL_URL``): escalations and session ends go there,
    signed with ``media_secret``. None: they are only logged."""
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    """Which STT and TTS run (``RTAGENT_STT``/``RTAGENT_TTS``: local or azure) and how Azure is reached."""
    store: StoreSettings | None = None
    """Where finished calls and caller memory are kept (``RTAGENT_STORE``); None: SQLite in ``data_dir``."""
    warm_retry_s: float = 15.0
    """When the TTS engine synthesized no greeting at start (Azure Speech unreachable), the worker is not
    ready (``/readyz`` 503) and tries again this often until one is synthesized."""


class WorkerRuntime:
    def __init__(self, config: WorkerConfig | None = None) -> None:
        self.config = config or WorkerConfig()
        self.ticker = Ticker()
        self.ready = False
        self._rewarm: asyncio.Task[None] | None = None
        self._onset_vad: VoiceActivityDetector | None = None
        self._speech_vad: VoiceActivityDetector | None = None
        self._stt: SpeechToText | None = None
        self._tts: CachedTts | None = None
        self._prepared: set[tuple[str, int]] = set()
        self._build: Any = None
        self._store: StateStore | None = None
        self.escalations: EscalationSink = RecordingEscalationSink()
        if self.config.control_url and self.config.media_secret:
            self.escalations = ControlPlaneSink(self.config.control_url, self.config.media_secret)

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load models and start engine processes. The worker is ready when this returns if the TTS engine
        answered (it synthesized a greeting); otherwise it keeps trying in the background and becomes ready
        then, so that calls are not sent to a worker that cannot speak."""
        from media_worker.engines.silero_vad import SileroVad
        from media_worker.engines.webrtc_vad import WebRtcVad

        self._onset_vad = WebRtcVad()
        self._speech_vad = SileroVad()
        self._stt, inner = self._speech_engines()
        self._tts = CachedTts(inner)
        log.info("loading engines: %s, %s", self._stt.name, inner.name)
        await asyncio.gather(self._stt.start(), self._tts.start())
        self._store = open_store(self.config.store or StoreSettings(data_dir=self.config.data_dir))
        if await self._warm_agents():
            self.ready = True
        else:
            log.error(
                "no agent greeting could be synthesized (%s): not ready for calls; trying again every %g s",
                inner.name,
                self.config.warm_retry_s,
            )
            self._rewarm = asyncio.create_task(self._until_warm(), name="tts-rewarm")

    async def _until_warm(self) -> None:
        while not self.ready:
            await asyncio.sleep(self.config.warm_retry_s)
            self._prepared.clear()  # the fixed phrases failed with the greetings: warm them again too
            if await self._warm_agents():
                log.info("the TTS engine answers: ready for calls")
                self.ready = True

    def _speech_engines(self) -> tuple[SpeechToText, TextToSpeech]:
        """The configured STT and TTS: simulated (load tests), Azure AI Speech, or the offline ones."""
        if self.config.engines == "simulated":
            from media_worker.engines.simulated import SimulatedStt, SimulatedTts

            return SimulatedStt(), SimulatedTts()
        speech = self.config.speech
        access = None
        if speech.uses_azure:
            from media_worker.engines.azure_speech import SpeechAccess

            access = SpeechAccess(speech)  # one token cache for both engines
        stt: SpeechToText
        if speech.stt == "azure":
            from media_worker.engines.azure_stt import AzureStt

            stt = AzureStt(speech, access)
        else:
            from media_worker.engines.whisper_stt import WhisperStt

            stt = WhisperStt()
        tts: TextToSpeech
        if speech.tts == "azure":
            from media_worker.engines.azure_tts import AzureTts

            tts = AzureTts(speech, access)
        else:
            from media_worker.engines.piper_tts import PiperTts

            tts = PiperTts(pool_size=self.config.tts_processes)
        return stt, tts

    async def _warm_agents(self) -> bool:
        """Synthesize every agent's greeting before taking calls, and its other fixed phrases right after;
        True if at least one greeting is now ready to play (the TTS engine answers)."""
        from agents.spec import AgentSpecError, list_agents

        spoken = False
        for name in list_agents(self.config.agents_dir):
            try:
                dialog = self.open_dialog(name)
            except AgentSpecError as exc:
                log.error("agent %s does not load and will refuse calls: %s", name, exc)
                continue
            voice = _voice_for(getattr(dialog, "spec", None), self.tts.voice_key)
            greeting = split_sentences(dialog.greeting())
            await self.tts.prepare(greeting, ENGINE_RATE_HZ, voice)
            spoken = spoken or self.tts.has(greeting, ENGINE_RATE_HZ, voice)
            self._prepare_phrases(name, dialog, ENGINE_RATE_HZ, voice)
        return spoken

    async def close(self) -> None:
        self.ready = False
        if self._rewarm is not None:
            self._rewarm.cancel()
            await asyncio.gather(self._rewarm, return_exceptions=True)
        await self.ticker.close()
        if self._store is not None:
            await self._store.close()
        for engine in (self._stt, self._tts):
            if engine is not None:
                await engine.close()

    # --- what sessions ask for ---------------------------------------------------------------------------

    @property
    def stt(self) -> SpeechToText:
        assert self._stt is not None, "WorkerRuntime.start() was not awaited"
        return self._stt

    @property
    def tts(self) -> CachedTts:
        assert self._tts is not None, "WorkerRuntime.start() was not awaited"
        return self._tts

    async def keep_call(self, summary: CallSummary, caller: str) -> None:
        """Store a finished call (session, transcript, the caller's memory) before it is reported ended."""
        if self._store is not None:
            await keep_session(self._store, summary, caller)

    async def caller_history(self, caller: str) -> str:
        """What earlier calls from ``caller`` left, for the agent ("" when none or unknown)."""
        return await caller_history(self._store, caller) if self._store is not None else ""

    def new_vad_streams(self) -> tuple[VadStream, VadStream]:
        assert self._onset_vad is not None and self._speech_vad is not None
        return self._onset_vad.stream(), self._speech_vad.stream()

    def session_options(self) -> dict[str, Any]:
        return {"vad_config": self.config.vad, "lead_ms": self.config.lead_ms}

    def check_agent(self, name: str) -> str | None:
        """None if the agent loads, else a readable reason (unknown agent, invalid YAML)."""
        from agents.spec import AgentSpecError

        try:
            self.open_dialog(name)
        except AgentSpecError as exc:
            return str(exc)
        return None

    def build_engine(self, spec: AgentSpec) -> DialogEngine:
        """The dialog engine for one agent on one call (the tools and any model client are shared)."""
        from agents.engines import engine_builder
        from agents.tools import default_registry

        if self._build is None:
            self._build = engine_builder(self.config.dialog, default_registry(self.config.data_dir))
        return self._build(spec)

    def open_dialog(self, agent: str) -> DialogEngine:
        """A fresh dialog for one call (following hand-overs), from the agent's YAML as it is now on disk."""
        from agents.conversation import open_conversation

        return open_conversation(agent, self.build_engine, self.config.agents_dir)

    def new_dialog(
        self, agent: str, sample_rate_hz: int = 16000
    ) -> tuple[DialogEngine, Voice | None, TurnConfig]:
        """A fresh dialog for one call, from the agent's YAML as it is now on disk."""
        from agents.spec import load_agent

        spec = load_agent(agent, self.config.agents_dir)
        dialog = self.open_dialog(agent)
        voice = _voice_for(spec, self.tts.voice_key)
        endpoint_ms = self.config.endpoint_ms or spec.turn.endpoint_ms
        self._prepare_phrases(agent, dialog, sample_rate_hz, voice)
        return dialog, voice, TurnConfig(endpoint_ms=endpoint_ms)

    def _prepare_phrases(self, agent: str, dialog: DialogEngine, rate: int, voice: Voice | None) -> None:
        """Synthesize the agent's fixed phrases once per process and rate, in the background."""
        key = (agent, rate)
        if key in self._prepared:
            return
        self._prepared.add(key)
        self.tts.prepare(dialog.fixed_phrases(), rate, voice)

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """Pacing-clock lateness since the last reset (the benchmark's measure of falling behind)."""
        late = sorted(self.ticker.lateness_ms)
        if reset:
            self.ticker.lateness_ms.clear()
        if not late:
            return {"tick_lateness_ms": None}

        def pct(p: float) -> float:
            return round(late[min(len(late) - 1, int(p / 100 * len(late)))], 2)

        return {
            "tick_lateness_ms": {"p50": pct(50), "p99": pct(99), "max": round(late[-1], 2), "n": len(late)}
        }


def _voice_for(spec: Any, engine: str) -> Voice | None:
    """The agent's voice for the TTS engine in use (its ``voice:`` entry under that engine's key)."""
    voices = getattr(spec, "voice", None) or {}
    v = voices.get(engine) if isinstance(voices, dict) else None
    if v is None:
        return None
    return Voice(name=v.name, rate=v.rate, pitch=v.pitch, style=v.style)
