"""The rules of one phone call's life, as a pure state machine: events in, a new state and commands out.

No I/O, no clock, no Azure imports. The call's Durable orchestrator (and the local runner) feeds ``step`` the
Call Automation callbacks, the media worker's reports and its own timers, and carries out the commands it
returns (as activities); the state is plain data (``CallState.to_dict``/``from_dict``) so it survives replays.
Every event carries ``t``: seconds since the call was answered, on the driver's clock.

Phases::

    ringing ──► connected ──► conversing ──► escalating ──► transferred
                    ▲              │  ▲              │
                    └─ media ends ─┘  └─ transfer ───┘
                                         failed / timed out
    every live phase ──► ended | failed                 (terminal: transferred, ended, failed)

- ``ringing``: IncomingCall answered, waiting for ``CallConnected``.
- ``connected``: the call is up but no agent listens: media has not started yet, or it ended (the caller then
  waits in silence, so a live call in ``connected`` with ended media is always on a short timer).
- ``conversing``: media streams and the worker's agent talks with the caller.
- ``escalating``: a transfer (``TransferCall``) is in flight; the ``transfer`` timer bounds it.

Besides the phase, the state tracks the media (``none`` → ``streaming`` → ``ended``; once ended, never
restarted: a late or duplicate start is ignored) and ``closing``: the call is on its way out and hangs up when
the ``hangup_grace`` timer fires, or sooner (``max_duration``: the goodbye is being said;
``transfer_failed``: the apology is being played; ``media_ended``: nobody listens, waiting briefly for the
worker's escalation request or the caller's hang-up).

Rules (``*`` = any live phase: ringing, connected, conversing, escalating). Anything not listed is ignored:
the state is unchanged, the event is still recorded in ``history`` (from == to), and ``step`` returns one
``Log``. Terminal phases absorb every event that way. Duplicates (a second ``CallConnected``, a second
``MediaStreamingStarted``, a stale timer) fall under this rule, so they are idempotent. A timer event counts
only while ``CallState.timers`` says that timer runs (``StartTimer``/``CancelTimer`` keep the two in step).

============================  ===========  ===========================================================
event                         in           result
============================  ===========  ===========================================================
(start)                       --           ringing; StartTimer max_duration (``max_call_s``)
CallConnected                 ringing      connected; a deferred escalation runs now (see below)
MediaStreamingStarted,        ringing,     conversing (media streaming; from ringing it also implies the
MediaSessionStarted           connected    connection); a deferred escalation runs now
                              escalating   media marked streaming (matters if the transfer fails)
EscalationRequested           ringing      deferred until connected (ACS callbacks and the worker race)
                              connected,   escalating: TransferCall to the event's target, else the
                              conversing   agent's default (``tel:``/E.164 → pstn, ``sip:`` → sip), SIP
                                           headers with call id, reason, summary, agent and record
                                           fields; StartTimer transfer. Refused (NotifyMediaWorker
                                           transfer_failed + recovery below) when there is no valid
                                           target or ``max_transfer_attempts`` failed already;
                                           refused with a notify only while closing for max_duration or
                                           transfer_failed. Cancels a media_ended grace timer.
                              escalating   ignored (one transfer at a time)
CallTransferAccepted          *            transferred (terminal) if its ``operation_context`` names our
                                           pending attempt, or one that timed out (ACS is the authority
                                           on where the caller is: a late acceptance wins); cancel timers,
                                           NotifyMediaWorker transfer_accepted, PersistCallRecord
CallTransferFailed            escalating   for the pending attempt: CancelTimer transfer, recovery
TransferTimedOut              escalating   the pending attempt timed out: recovery (ACS has no cancel for
                                           a transfer, so a late acceptance may still come)
(recovery)                    --           NotifyMediaWorker transfer_failed; conversing if media streams
                                           else connected; then if max duration was reached meanwhile,
                                           closing max_duration; elif media ended, closing
                                           transfer_failed (PlayMessage apology, hang up after it)
MaxDurationReached            ringing      failed (never_connected): HangUp, PersistCallRecord
                              conversing   closing max_duration: NotifyMediaWorker max_duration (the agent
                                           says the goodbye: ACS cannot play into a bidirectional stream),
                                           StartTimer hangup_grace
                              connected    closing max_duration: PlayMessage goodbye (no stream, so ACS
                                           plays it), StartTimer hangup_grace
                              escalating   noted; the transfer goes on; a failed transfer then closes
                              closing      noted (media_ended closing: as in connected)
HangupGraceElapsed            closing      ended: HangUp(for_everyone), PersistCallRecord
PlayCompleted, PlayFailed     closing+play ended: HangUp, PersistCallRecord (the goodbye/apology is over)
MediaStreamingStopped,        ringing,     closing media_ended: StartTimer hangup_grace (conversing →
MediaSessionEnded(caller_     connected,   connected); if already closing for max_duration in
hangup | transfer)            conversing   conversing (the goodbye was said): ended with HangUp
                              escalating   media marked ended; the transfer goes on
MediaSessionEnded(            ringing,     ended: HangUp(for_everyone), PersistCallRecord (end reason
agent_hangup)                 connected,   agent_hangup, or max_duration after the goodbye)
                              conversing
MediaSessionEnded(other)      non-escal.   failed: HangUp (the worker is gone: the caller would hear
MediaStreamingFailed                       nothing), PersistCallRecord; in escalating: media ended, noted
AnswerFailed                  ringing      failed: PersistCallRecord (there is no call to hang up)
CallDisconnected              *            ended (caller_hangup; disconnected_during_transfer when
                                           escalating): CancelTimer each running timer, PersistCallRecord
OtherCallEvent, unknown       *            ignored
============================  ===========  ===========================================================

Every path into a terminal phase goes through one function that cancels the running timers and emits
``PersistCallRecord`` exactly once (guarded by ``CallState.persisted``). ``step`` never raises and never
mutates its input: it works on a copy.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import unicodedata
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, NamedTuple, get_args

Phase = Literal["ringing", "connected", "conversing", "escalating", "transferred", "ended", "failed"]
PHASES: tuple[Phase, ...] = get_args(Phase)
TERMINAL: frozenset[Phase] = frozenset({"transferred", "ended", "failed"})
Media = Literal["none", "streaming", "ended"]
Closing = Literal["", "max_duration", "transfer_failed", "media_ended"]

TIMER_MAX_DURATION = "max_duration"
TIMER_TRANSFER = "transfer"
TIMER_HANGUP_GRACE = "hangup_grace"

SIP_HEADER_PREFIX = "X-MS-Custom-"
"""ACS forwards custom SIP headers only with this prefix (Call Automation custom context)."""

_E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")
_SIP_RE = re.compile(r"^sips?:\S+$", re.IGNORECASE)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9-]+$")


# --- transfer targets and configuration -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferTarget:
    """Where a transfer goes: ``pstn`` with an E.164 ``address`` or ``sip`` with a ``sip:``/``sips:`` URI."""

    kind: Literal["pstn", "sip"]
    address: str

    @classmethod
    def parse(cls, text: str) -> TransferTarget | None:
        """``tel:+18005550199`` or ``+18005550199`` → pstn, ``sip:desk@example.com`` → sip; else None."""
        text = (text or "").strip()
        if text[:4].lower() == "tel:":
            text = text[4:]
        if _E164_RE.match(text):
            return cls("pstn", text)
        if _SIP_RE.match(text):
            return cls("sip", text)
        return None

    @classmethod
    def from_spec(cls, spec: Any) -> TransferTarget | None:
        """The agent YAML's ``escalation.transfer`` (``type``, ``number``, ``uri`` attributes), or None."""
        if spec is None:
            return None
        kind = getattr(spec, "type", None)
        text = getattr(spec, "number", None) if kind == "pstn" else getattr(spec, "uri", None)
        target = cls.parse(str(text or ""))
        return target if target is not None and target.kind == kind else None

    @property
    def uri(self) -> str:
        """``tel:+1...`` or the SIP URI, the form the media worker and the agents use."""
        return f"tel:{self.address}" if self.kind == "pstn" else self.address


@dataclass(frozen=True, slots=True)
class LifecycleConfig:
    """The limits and fixed lines of one call, from the agent YAML and the app settings.

    Raises:
        ValueError: on a non-positive duration or limit, or a SIP prefix that ACS would not forward.
    """

    max_call_s: float = 600.0
    """Call length (s) after which the agent says goodbye and the call ends (agent ``limits.max_call_s``)."""
    transfer_timeout_s: float = 30.0
    """How long a transfer may ring before it counts as failed."""
    default_transfer_target: TransferTarget | None = None
    """The agent's ``escalation.transfer``; used when the escalation names no target."""
    max_transfer_attempts: int = 2
    """Failed transfers after which further escalation requests are refused at once."""
    hangup_grace_s: float = 10.0
    """Time given to the goodbye (or the apology, or a worker that just left) before hanging up."""
    max_call_goodbye: str = "We've reached the time limit for this call. Thank you for calling. Goodbye."
    transfer_failed_say: str = (
        "I'm sorry, I couldn't connect you with someone right now. "
        "Please call us again a little later. Goodbye."
    )
    """Played by ACS when a transfer fails after the media session has gone (no agent left to apologise)."""
    sip_header_prefix: str = SIP_HEADER_PREFIX
    sip_header_value_limit: int = 256
    """ACS: a custom SIP header value is at most 256 characters."""
    sip_header_name_limit: int = 64
    """ACS: a custom SIP header name is at most 64 characters, prefix included."""
    max_sip_headers: int = 5
    """ACS forwards at most five custom SIP headers."""
    record_header_fields: tuple[str, ...] = ()
    """Record fields sent as SIP headers, in order (empty: the record's own order), after the fixed ones."""
    max_history: int = 1000
    """History entries kept; beyond it, events that change nothing are only counted (``history_dropped``)."""

    def __post_init__(self) -> None:
        for name in ("max_call_s", "transfer_timeout_s", "hangup_grace_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_transfer_attempts", "max_sip_headers", "max_history"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.sip_header_value_limit < 8:
            raise ValueError(f"sip_header_value_limit must be >= 8, got {self.sip_header_value_limit}")
        if not self.sip_header_prefix.lower().startswith(SIP_HEADER_PREFIX.lower()) or not _TOKEN_RE.match(
            self.sip_header_prefix
        ):
            raise ValueError(f"sip_header_prefix must start with {SIP_HEADER_PREFIX!r} and be a SIP token")
        if self.sip_header_name_limit < len(self.sip_header_prefix) + 4:
            raise ValueError("sip_header_name_limit leaves no room after the prefix")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["record_header_fields"] = list(self.record_header_fields)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LifecycleConfig:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        target = kwargs.get("default_transfer_target")
        if isinstance(target, dict):
            kwargs["default_transfer_target"] = TransferTarget(target["kind"], target["address"])
        if "record_header_fields" in kwargs:
            kwargs["record_header_fields"] = tuple(kwargs["record_header_fields"])
        return cls(**kwargs)


# --- events -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallConnected:
    """ACS ``CallConnected``: the answered call is up."""

    t: float


@dataclass(frozen=True, slots=True)
class CallDisconnected:
    """ACS ``CallDisconnected``: our call connection is gone (caller hung up, hung up by us, transferred)."""

    t: float


@dataclass(frozen=True, slots=True)
class MediaStreamingStarted:
    """ACS ``MediaStreamingStarted``."""

    t: float


@dataclass(frozen=True, slots=True)
class MediaStreamingStopped:
    """ACS ``MediaStreamingStopped``."""

    t: float


@dataclass(frozen=True, slots=True)
class MediaStreamingFailed:
    """ACS ``MediaStreamingFailed``; ``reason`` from ``resultInformation``."""

    t: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CallTransferAccepted:
    """ACS ``CallTransferAccepted``: the target took the call; ``operation_context`` names our attempt."""

    t: float
    operation_context: str = ""


@dataclass(frozen=True, slots=True)
class CallTransferFailed:
    """ACS ``CallTransferFailed``, with ``resultInformation`` ``code``/``subCode``/``message``."""

    t: float
    code: int = 0
    sub_code: int = 0
    message: str = ""
    operation_context: str = ""


@dataclass(frozen=True, slots=True)
class PlayCompleted:
    """ACS ``PlayCompleted`` (of our ``PlayMessage``)."""

    t: float


@dataclass(frozen=True, slots=True)
class PlayFailed:
    """ACS ``PlayFailed``."""

    t: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AnswerFailed:
    """ACS ``AnswerFailed``: the answer did not go through."""

    t: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OtherCallEvent:
    """Any other Call Automation callback (``ParticipantsUpdated``, ``PlayStarted``...): recorded, ignored."""

    t: float
    name: str = ""


@dataclass(frozen=True, slots=True)
class MediaSessionStarted:
    """The media worker: the call's media WebSocket session opened (the agent is live)."""

    t: float


@dataclass(frozen=True, slots=True)
class EscalationRequested:
    """The media worker: the agent wants a human (``media_worker.escalation.EscalationRequest``)."""

    t: float
    reason: str = ""
    record: dict[str, Any] = field(default_factory=dict, hash=False)
    target: str = ""
    """``tel:+1...`` or ``sip:...``; empty for the agent's default."""
    summary: str = ""


@dataclass(frozen=True, slots=True)
class MediaSessionEnded:
    """The media worker: its session closed; ``ended_by`` is ``agent_hangup``, ``caller_hangup``,
    ``transfer``, or anything else for an abnormal end."""

    t: float
    ended_by: str = ""


@dataclass(frozen=True, slots=True)
class MaxDurationReached:
    """Timer ``max_duration`` fired."""

    t: float


@dataclass(frozen=True, slots=True)
class TransferTimedOut:
    """Timer ``transfer`` fired."""

    t: float


@dataclass(frozen=True, slots=True)
class HangupGraceElapsed:
    """Timer ``hangup_grace`` fired."""

    t: float


Event = (
    CallConnected
    | CallDisconnected
    | MediaStreamingStarted
    | MediaStreamingStopped
    | MediaStreamingFailed
    | CallTransferAccepted
    | CallTransferFailed
    | PlayCompleted
    | PlayFailed
    | AnswerFailed
    | OtherCallEvent
    | MediaSessionStarted
    | EscalationRequested
    | MediaSessionEnded
    | MaxDurationReached
    | TransferTimedOut
    | HangupGraceElapsed
)
EVENT_TYPES: tuple[type, ...] = get_args(Event)
TIMER_EVENTS: dict[str, type] = {
    TIMER_MAX_DURATION: MaxDurationReached,
    TIMER_TRANSFER: TransferTimedOut,
    TIMER_HANGUP_GRACE: HangupGraceElapsed,
}


def timer_event(name: str, t: float) -> Event:
    """The event to feed ``step`` when the timer ``name`` (from ``StartTimer``) fires at ``t``."""
    cls = TIMER_EVENTS.get(name)
    return cls(t) if cls is not None else OtherCallEvent(t, f"timer:{name}")


_CALLBACK_EVENTS: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        CallConnected,
        CallDisconnected,
        MediaStreamingStarted,
        MediaStreamingStopped,
        MediaStreamingFailed,
        CallTransferAccepted,
        CallTransferFailed,
        PlayCompleted,
        PlayFailed,
        AnswerFailed,
    )
}


def event_from_callback(callback: Any, t: float) -> Event:
    """A parsed Call Automation callback → its lifecycle event (``OtherCallEvent`` for the rest).

    ``callback`` is read by attribute, as ``functions.events.CallbackEvent`` has them: ``name`` (short,
    ``CallTransferFailed``), ``operation_context``, ``result_code``, ``result_sub_code``, ``result_message``.
    """
    name = str(getattr(callback, "name", "") or "").rsplit(".", 1)[-1]
    cls = _CALLBACK_EVENTS.get(name)
    message = str(getattr(callback, "result_message", "") or "")
    code = getattr(callback, "result_code", None)
    if cls is None:
        return OtherCallEvent(t, name)
    if cls is CallTransferFailed:
        return CallTransferFailed(
            t,
            int(code or 0),
            int(getattr(callback, "result_sub_code", None) or 0),
            message,
            str(getattr(callback, "operation_context", "") or ""),
        )
    if cls is CallTransferAccepted:
        return CallTransferAccepted(t, str(getattr(callback, "operation_context", "") or ""))
    if cls in (MediaStreamingFailed, PlayFailed, AnswerFailed):
        return cls(t, f"{code}: {message}" if code is not None else message)
    return cls(t)


# --- commands ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Start the timer ``name`` to fire after ``seconds``; when it fires, feed ``timer_event(name, t)``.
    Never emitted for a running timer: a restart is ``CancelTimer`` then ``StartTimer``."""

    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Cancel the timer ``name``; a no-op if it already fired."""

    name: str


@dataclass(frozen=True, slots=True)
class TransferCall:
    """Call Automation ``transferToParticipant``: ``PhoneNumberIdentifier(target)`` for pstn, the SIP URI
    for sip; ``sip_headers`` go in ``customCallingContext.sipHeaders``; ``operation_context`` comes back in
    ``CallTransferAccepted``/``CallTransferFailed``."""

    target_kind: Literal["pstn", "sip"]
    target: str
    sip_headers: dict[str, str] = field(default_factory=dict, hash=False)
    operation_context: str = ""


@dataclass(frozen=True, slots=True)
class NotifyMediaWorker:
    """Tell the call's media worker (the agent) what happened: ``transfer_failed`` (apologise, offer a
    callback), ``transfer_accepted`` (the caller is handed over), ``max_duration`` (say ``message``, the
    goodbye, and hang up)."""

    kind: Literal["transfer_failed", "transfer_accepted", "max_duration"]
    message: str = ""


@dataclass(frozen=True, slots=True)
class PlayMessage:
    """Call Automation ``play`` of ``text`` (TTS) to everyone; only emitted while no media streams."""

    text: str


@dataclass(frozen=True, slots=True)
class HangUp:
    """Call Automation ``hang_up(for_everyone)``."""

    for_everyone: bool = True


@dataclass(frozen=True, slots=True)
class PersistCallRecord:
    """Store the final record (``CallState.to_dict()``): emitted exactly once, when the call ends."""

    outcome: Phase
    end_reason: str = ""


@dataclass(frozen=True, slots=True)
class Log:
    """Log ``message`` (an ignored event, or a decision worth seeing)."""

    message: str


Command = (
    StartTimer
    | CancelTimer
    | TransferCall
    | NotifyMediaWorker
    | PlayMessage
    | HangUp
    | PersistCallRecord
    | Log
)
COMMAND_TYPES: tuple[type, ...] = get_args(Command)

_EVENTS_BY_NAME = {cls.__name__: cls for cls in EVENT_TYPES}
_COMMANDS_BY_NAME = {cls.__name__: cls for cls in COMMAND_TYPES}


def event_to_dict(event: Event) -> dict[str, Any]:
    """``{"type": "CallConnected", "t": 1.5, ...}``: JSON for an external event or an activity input."""
    return {"type": type(event).__name__, **asdict(event)}


def event_from_dict(d: dict[str, Any]) -> Event:
    """The inverse of ``event_to_dict``; an unknown ``type`` becomes ``OtherCallEvent``.

    Raises:
        ValueError: when the fields do not fit the type.
    """
    name = str(d.get("type", ""))
    cls = _EVENTS_BY_NAME.get(name)
    if cls is None:
        return OtherCallEvent(float(d.get("t", 0.0)), name)
    return _build(cls, d)


def command_to_dict(command: Command) -> dict[str, Any]:
    return {"type": type(command).__name__, **asdict(command)}


def command_from_dict(d: dict[str, Any]) -> Command:
    """The inverse of ``command_to_dict``.

    Raises:
        ValueError: on an unknown ``type`` or fields that do not fit it.
    """
    cls = _COMMANDS_BY_NAME.get(str(d.get("type", "")))
    if cls is None:
        raise ValueError(f"not a lifecycle command: {d.get('type')!r}")
    return _build(cls, d)


def _build(cls: type, d: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in d.items() if k in names})
    except TypeError as exc:
        raise ValueError(f"bad {cls.__name__}: {exc}") from None


# --- state ------------------------------------------------------------------------------------------------


class Transition(NamedTuple):
    """One history entry: at ``t`` the event ``event`` took the call from ``from_state`` to ``to_state``."""

    t: float
    event: str
    from_state: str
    to_state: str


@dataclass(frozen=True, slots=True)
class Escalation:
    """The latest escalation request, as the worker sent it."""

    reason: str
    target: str
    summary: str
    record: dict[str, Any]
    requested_t: float


@dataclass(slots=True)
class TransferAttempt:
    """One ``TransferCall``: ``outcome`` pending → accepted | failed | timed_out."""

    attempt: int
    operation_context: str
    target_kind: str
    target: str
    started_t: float
    outcome: Literal["pending", "accepted", "failed", "timed_out"] = "pending"
    detail: str = ""
    ended_t: float | None = None


@dataclass(slots=True)
class CallState:
    """Everything the rules know about one call; plain data, JSON via ``to_dict``/``from_dict``."""

    call_connection_id: str
    agent: str
    caller: str
    called: str
    phase: Phase = "ringing"
    answered_at: str = ""
    """Wall-clock time of the answer (ISO 8601, from the driver); every ``t`` counts from it."""
    connected_t: float | None = None
    media_started_t: float | None = None
    ended_t: float | None = None
    end_reason: str = ""
    """Why the call ended: caller_hangup, agent_hangup, transferred, max_duration, transfer_failed, ..."""
    media: Media = "none"
    closing: Closing = ""
    playing: bool = False
    """A ``PlayMessage`` (goodbye or apology) is playing; its PlayCompleted/PlayFailed hangs up."""
    max_duration_reached: bool = False
    timers: dict[str, float] = field(default_factory=dict)
    """Running timers: name → due time (s since answer)."""
    escalation: Escalation | None = None
    escalation_pending: bool = False
    """An escalation arrived while ringing; it runs once the call is connected."""
    transfers: list[TransferAttempt] = field(default_factory=list)
    persisted: bool = False
    history: list[Transition] = field(default_factory=list)
    history_dropped: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.phase in TERMINAL

    @property
    def failed_transfers(self) -> int:
        return sum(1 for a in self.transfers if a.outcome in ("failed", "timed_out"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (a deep copy): ``history`` entries become ``[t, event, from, to]`` lists."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["timers"] = dict(self.timers)
        d["escalation"] = asdict(self.escalation) if self.escalation is not None else None
        d["transfers"] = [asdict(a) for a in self.transfers]
        d["history"] = [list(h) for h in self.history]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CallState:
        known = {f.name for f in fields(cls)}
        kwargs = {k: copy.deepcopy(v) for k, v in d.items() if k in known}
        if kwargs.get("escalation") is not None:
            kwargs["escalation"] = Escalation(**kwargs["escalation"])
        kwargs["transfers"] = [TransferAttempt(**a) for a in kwargs.get("transfers", [])]
        kwargs["history"] = [Transition(*h) for h in kwargs.get("history", [])]
        return cls(**kwargs)


# --- the rules --------------------------------------------------------------------------------------------


def start(
    call_connection_id: str,
    agent: str,
    caller: str,
    called: str,
    config: LifecycleConfig,
    *,
    answered_at: str = "",
) -> tuple[CallState, list[Command]]:
    """The call was just answered (t = 0): ``ringing``, with the ``max_duration`` timer running."""
    state = CallState(call_connection_id, agent, caller, called, answered_at=answered_at)
    commands: list[Command] = []
    _start_timer(state, TIMER_MAX_DURATION, config.max_call_s, 0.0, commands)
    return state, commands


def step(state: CallState, event: Event, config: LifecycleConfig) -> tuple[CallState, list[Command]]:
    """Apply ``event`` to a copy of ``state``; return the new state and the commands to carry out, in order.

    Never raises and never mutates ``state``. Every call appends one ``history`` entry (see
    ``LifecycleConfig.max_history``). Ignored events return exactly one ``Log``.
    """
    s = _clone(state)
    name = _event_name(event)
    t = _event_time(event)
    before = s.phase
    if s.phase in TERMINAL:
        commands: list[Command] = [Log(f"{name} after the call {s.phase}: ignored")]
    else:
        try:
            commands = _Rules(s, config, t, name).apply(event)
        except Exception as exc:  # a bug must not stop the call's orchestration; keep the old state
            s = _clone(state)
            commands = [Log(f"{name} in {before}: internal error {type(exc).__name__}: {exc}; ignored")]
    if len(s.history) < config.max_history or s.phase != before:
        s.history.append(Transition(t, name, before, s.phase))
    else:
        s.history_dropped += 1
    return s, commands


class _Rules:
    """One step's work on the copied state ``s`` (mutated), collecting commands."""

    def __init__(self, s: CallState, config: LifecycleConfig, t: float, name: str) -> None:
        self.s = s
        self.cfg = config
        self.t = t
        self.name = name
        self.out: list[Command] = []

    def apply(self, event: Event) -> list[Command]:
        s = self.s
        match event:
            case CallConnected():
                if s.phase == "ringing":
                    s.phase = "connected"
                    s.connected_t = self.t
                    self._run_pending_escalation()
                else:
                    self._ignore()
            case MediaStreamingStarted() | MediaSessionStarted():
                self._media_started()
            case MediaStreamingStopped():
                if s.media == "ended":
                    self._ignore("media already ended")
                else:
                    self._media_gone("media streaming stopped")
            case MediaStreamingFailed(reason=reason):
                self._media_broken(f"media_failed: {reason}" if reason else "media_failed")
            case MediaSessionEnded(ended_by=by):
                self._media_session_ended(by)
            case EscalationRequested():
                self._escalation_requested(event)
            case CallTransferAccepted(operation_context=ctx):
                self._transfer_accepted(ctx)
            case CallTransferFailed(code=code, sub_code=sub, message=msg, operation_context=ctx):
                self._transfer_failed(ctx, f"{code}/{sub} {msg}".strip())
            case TransferTimedOut():
                attempt = self._attempt("")
                if s.phase == "escalating" and TIMER_TRANSFER in s.timers and attempt is not None:
                    s.timers.pop(TIMER_TRANSFER)
                    self._close_attempt(
                        attempt, "timed_out", f"no answer within {self.cfg.transfer_timeout_s:g} s"
                    )
                    self._recover(
                        f"The transfer to {attempt.target} was not answered within "
                        f"{self.cfg.transfer_timeout_s:g} seconds."
                    )
                else:
                    self._ignore("no transfer timer running")
            case MaxDurationReached():
                self._max_duration()
            case HangupGraceElapsed():
                if s.closing and TIMER_HANGUP_GRACE in s.timers:
                    s.timers.pop(TIMER_HANGUP_GRACE)
                    self._finish("ended", s.closing, hang_up=True)
                else:
                    self._ignore("no hang-up pending")
            case PlayCompleted() | PlayFailed():
                if s.playing:
                    self._finish("ended", s.closing or "played", hang_up=True)
                else:
                    self._ignore("no message of ours playing")
            case AnswerFailed(reason=reason):
                if s.phase == "ringing":
                    self._finish("failed", f"answer_failed: {reason}" if reason else "answer_failed")
                else:
                    self._ignore()
            case CallDisconnected():
                reason = "disconnected_during_transfer" if s.phase == "escalating" else "caller_hangup"
                self._finish("ended", reason)
            case _:
                self._ignore()
        return self.out

    # --- media ---

    def _media_started(self) -> None:
        s = self.s
        if s.media == "streaming":
            self._ignore("media already streaming")
            return
        if s.media == "ended" or s.closing:
            self._ignore("media already ended or the call is closing")
            return
        s.media = "streaming"
        s.media_started_t = self.t
        if s.phase == "ringing":  # the callbacks raced: media implies the call is connected
            s.connected_t = self.t
            s.phase = "conversing"
            self._run_pending_escalation()
        elif s.phase == "connected":
            s.phase = "conversing"
        else:
            self._log("media started while the transfer is in flight")

    def _media_session_ended(self, ended_by: str) -> None:
        s = self.s
        if ended_by == "agent_hangup" and s.phase != "escalating":
            s.media = "ended"  # after the max-duration goodbye, the agent hanging up is the expected end
            self._finish(
                "ended", "max_duration" if s.closing == "max_duration" else "agent_hangup", hang_up=True
            )
        elif s.media == "ended":
            self._ignore("media already ended")
        elif ended_by in ("caller_hangup", "transfer", "agent_hangup"):
            self._media_gone(f"media session ended ({ended_by})")
        else:
            self._media_broken(f"media_session_{ended_by or 'ended'}")

    def _media_broken(self, reason: str) -> None:
        """The media failed or the worker left abnormally: nothing will talk to the caller."""
        s = self.s
        if s.media == "ended":
            self._ignore("media already ended")
        elif s.phase == "escalating":
            s.media = "ended"
            self._log(f"{reason} while the transfer is in flight")
        else:
            s.media = "ended"
            self._finish("failed", reason, hang_up=True)

    def _media_gone(self, why: str) -> None:
        s = self.s
        s.media = "ended"
        if s.phase == "escalating":
            self._log(f"{why} while the transfer is in flight")
        elif s.phase == "conversing" and s.closing == "max_duration":
            self._finish("ended", "max_duration", hang_up=True)  # the goodbye was said
        elif s.closing:
            self._log(f"{why} while closing ({s.closing})")
        else:
            # Nobody listens now: wait briefly for the worker's escalation request or the caller's hang-up.
            if s.phase == "conversing":
                s.phase = "connected"
            s.closing = "media_ended"
            self._start_timer(TIMER_HANGUP_GRACE, self.cfg.hangup_grace_s)

    # --- escalation ---

    def _escalation_requested(self, event: EscalationRequested) -> None:
        s = self.s
        if s.phase == "escalating":
            self._ignore("a transfer is already in flight")
            return
        if s.phase == "ringing" and s.escalation_pending:
            self._ignore("an escalation is already waiting for the connection")
            return
        if s.closing in ("max_duration", "transfer_failed"):
            self._notify("transfer_failed", "The call is ending; it cannot be transferred now.")
            return
        record = event.record if isinstance(event.record, dict) else {}
        s.escalation = Escalation(
            str(event.reason), str(event.target), str(event.summary), dict(record), self.t
        )
        if s.phase == "ringing":
            s.escalation_pending = True
            self._log("escalation deferred until the call is connected")
            return
        self._escalate()

    def _run_pending_escalation(self) -> None:
        if self.s.escalation_pending:
            self.s.escalation_pending = False
            self._escalate()

    def _escalate(self) -> None:
        s, cfg = self.s, self.cfg
        esc = s.escalation
        assert esc is not None
        if s.failed_transfers >= cfg.max_transfer_attempts:
            self._recover(f"Transfers failed {s.failed_transfers} times; not trying again on this call.")
            return
        target = TransferTarget.parse(esc.target) if esc.target else None
        if esc.target and target is None:
            self._log(f"escalation target {esc.target!r} is not a tel: number or sip: URI; using the default")
        target = target or cfg.default_transfer_target
        if target is None:
            self._recover("There is no one to transfer the call to.")
            return
        if TIMER_HANGUP_GRACE in s.timers:
            self._cancel_timer(TIMER_HANGUP_GRACE)
        s.closing = ""
        attempt = TransferAttempt(
            len(s.transfers) + 1, f"transfer-{len(s.transfers) + 1}", target.kind, target.address, self.t
        )
        s.transfers.append(attempt)
        s.phase = "escalating"
        self.out.append(
            TransferCall(
                target.kind,
                target.address,
                sip_headers(s.call_connection_id, s.agent, esc, cfg),
                attempt.operation_context,
            )
        )
        self._start_timer(TIMER_TRANSFER, cfg.transfer_timeout_s)

    def _transfer_accepted(self, ctx: str) -> None:
        attempt = self._attempt(ctx)
        if attempt is None or attempt.outcome not in ("pending", "timed_out"):
            self._ignore("not a transfer we are waiting for")
            return
        late = attempt.outcome == "timed_out"
        self._close_attempt(attempt, "accepted", "accepted after the timeout" if late else "")
        self._notify("transfer_accepted", f"The call was transferred to {attempt.target}.")
        self._finish("transferred", "transferred")

    def _transfer_failed(self, ctx: str, detail: str) -> None:
        s = self.s
        attempt = self._attempt(ctx)
        if attempt is not None and attempt.outcome == "pending" and s.phase == "escalating":
            self._close_attempt(attempt, "failed", detail)
            self._cancel_timer(TIMER_TRANSFER)
            self._recover(f"The transfer to {attempt.target} failed ({detail}).")
        elif attempt is not None and attempt.outcome == "timed_out":
            attempt.detail += f"; then failed: {detail}"
            self._log(f"{attempt.operation_context} failed after its timeout: {detail}")
        else:
            self._ignore("not a transfer we are waiting for")

    def _recover(self, message: str) -> None:
        """A transfer failed or was refused: the agent apologises, or ACS does and the call ends."""
        s = self.s
        self._notify("transfer_failed", message)
        s.phase = "conversing" if s.media == "streaming" else "connected"
        if s.max_duration_reached:
            self._begin_closing("max_duration")
        elif s.media == "ended":
            self._begin_closing("transfer_failed")

    # --- ending ---

    def _max_duration(self) -> None:
        s = self.s
        if TIMER_MAX_DURATION not in s.timers:
            self._ignore("the max_duration timer is not running")
            return
        s.timers.pop(TIMER_MAX_DURATION)
        s.max_duration_reached = True
        if s.phase == "ringing":
            self._finish("failed", "never_connected", hang_up=True)
        elif s.phase == "escalating":
            self._log("max call duration reached during a transfer; the transfer goes on")
        elif s.closing in ("max_duration", "transfer_failed"):
            self._log(f"max call duration reached while closing ({s.closing})")
        else:
            self._begin_closing("max_duration")

    def _begin_closing(self, reason: Closing) -> None:
        s, cfg = self.s, self.cfg
        s.closing = reason
        if s.media == "streaming":
            # ACS cannot play into a bidirectional stream: the worker's agent says the goodbye.
            self._notify("max_duration", cfg.max_call_goodbye)
        else:
            s.playing = True
            self.out.append(
                PlayMessage(cfg.max_call_goodbye if reason == "max_duration" else cfg.transfer_failed_say)
            )
        self._start_timer(TIMER_HANGUP_GRACE, cfg.hangup_grace_s)

    def _finish(self, phase: Phase, reason: str, *, hang_up: bool = False) -> None:
        """The one way into a terminal phase: cancel timers, hang up if asked, persist exactly once."""
        s = self.s
        for name in sorted(s.timers):
            self.out.append(CancelTimer(name))
        s.timers.clear()
        if hang_up:
            self.out.append(HangUp(for_everyone=True))
        s.phase = phase
        s.end_reason = reason
        s.ended_t = self.t
        s.closing = ""
        s.playing = False
        s.escalation_pending = False
        for attempt in s.transfers:
            if attempt.outcome == "pending":
                self._close_attempt(attempt, "failed", f"call {reason}")
        if not s.persisted:
            s.persisted = True
            self.out.append(PersistCallRecord(phase, reason))

    # --- helpers ---

    def _attempt(self, ctx: str) -> TransferAttempt | None:
        """The attempt named by ``ctx``; an empty context means the latest attempt."""
        if not ctx:
            return self.s.transfers[-1] if self.s.transfers else None
        return next((a for a in self.s.transfers if a.operation_context == ctx), None)

    def _close_attempt(self, attempt: TransferAttempt, outcome: str, detail: str) -> None:
        attempt.outcome = outcome  # type: ignore[assignment]
        attempt.detail = detail
        attempt.ended_t = self.t

    def _start_timer(self, name: str, seconds: float) -> None:
        _start_timer(self.s, name, seconds, self.t, self.out)

    def _cancel_timer(self, name: str) -> None:
        if self.s.timers.pop(name, None) is not None:
            self.out.append(CancelTimer(name))

    def _notify(self, kind: Any, message: str) -> None:
        self.out.append(NotifyMediaWorker(kind, message))

    def _log(self, message: str) -> None:
        self.out.append(Log(f"{self.name} in {self.s.phase}: {message}"))

    def _ignore(self, why: str = "") -> None:
        self.out.append(Log(f"{self.name} in {self.s.phase}: ignored" + (f" ({why})" if why else "")))


def _clone(s: CallState) -> CallState:
    """A copy the rules may mutate (``copy.deepcopy`` costs ten times more; entries of ``history`` and
    ``Escalation`` are immutable, and the record's values are never changed)."""
    esc = s.escalation
    return dataclasses.replace(
        s,
        timers=dict(s.timers),
        escalation=dataclasses.replace(esc, record=dict(esc.record)) if esc is not None else None,
        transfers=[dataclasses.replace(a) for a in s.transfers],
        history=list(s.history),
    )


def _start_timer(s: CallState, name: str, seconds: float, t: float, out: list[Command]) -> None:
    if name in s.timers:
        out.append(CancelTimer(name))
    s.timers[name] = t + seconds
    out.append(StartTimer(name, seconds))


def _event_name(event: Any) -> str:
    if isinstance(event, OtherCallEvent):
        return event.name or "OtherCallEvent"
    return type(event).__name__


def _event_time(event: Any) -> float:
    try:
        return float(getattr(event, "t", 0.0))
    except (TypeError, ValueError):
        return 0.0


# --- SIP headers ------------------------------------------------------------------------------------------

_WS_RE = re.compile(r"\s+")


def sanitize_header_value(value: Any, limit: int = 256) -> str:
    """``value`` as a SIP header value: printable ASCII only (accents folded, ``é`` → ``e``; other
    characters → ``?``; newlines and tabs → one space), stripped, at most ``limit`` characters (a cut
    value ends in ``...``)."""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, list | tuple):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    folded = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue
        if ch.isspace():
            folded.append(" ")
        elif " " <= ch <= "~":
            folded.append(ch)
        elif unicodedata.category(ch)[0] == "C":
            folded.append(" ")  # other control and format characters
        else:
            folded.append("?")
    text = _WS_RE.sub(" ", "".join(folded)).strip()
    if len(text) > limit:
        text = text[: max(limit - 3, 0)].rstrip() + "..."
    return text


def header_name(key: str, prefix: str = SIP_HEADER_PREFIX, limit: int = 64) -> str:
    """``policy_number`` → ``X-MS-Custom-Policy-Number``: letters, digits and dashes, at most ``limit``
    characters with the prefix; ``""`` when nothing usable is left."""
    ascii_key = unicodedata.normalize("NFKD", str(key)).encode("ascii", "ignore").decode()
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", ascii_key) if p]
    if not parts:
        return ""
    name = "-".join(p[:1].upper() + p[1:] for p in parts)
    return (prefix + name)[:limit].rstrip("-")


def sip_headers(
    call_connection_id: str, agent: str, escalation: Escalation, config: LifecycleConfig
) -> dict[str, str]:
    """The custom SIP headers that travel with a transfer, for the human who takes the call.

    In order, up to ``config.max_sip_headers`` (ACS forwards five): ``Call-Id`` (to find the record),
    ``Reason``, ``Summary`` (the worker's, or one built from the record), ``Agent``, then record fields
    (``config.record_header_fields``, else the record's order). Names carry ``config.sip_header_prefix``;
    values are sanitised (``sanitize_header_value``); empty values and nested records are left out.
    """
    limit = config.sip_header_value_limit
    summary = escalation.summary or _summary(agent, escalation.reason, escalation.record)
    candidates: list[tuple[str, Any]] = [
        ("Call-Id", call_connection_id),
        ("Reason", escalation.reason),
        ("Summary", summary),
        ("Agent", agent),
    ]
    keys = config.record_header_fields or tuple(escalation.record)
    candidates += [(k, escalation.record.get(k)) for k in keys]
    headers: dict[str, str] = {}
    for key, value in candidates:
        if len(headers) >= config.max_sip_headers:
            break
        if value is None or isinstance(value, dict):
            continue
        name = header_name(key, config.sip_header_prefix, config.sip_header_name_limit)
        text = sanitize_header_value(value, limit)
        if name and text and name.lower() not in {h.lower() for h in headers}:
            headers[name] = text
    return headers


def _summary(agent: str, reason: str, record: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in record.items() if v not in (None, "", [], {}))
    return f"{agent}: {reason}" + (f"; {shown}" if shown else "")
