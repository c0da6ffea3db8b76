"""``rtagent``: run the media worker, place a simulated call, or benchmark the pipeline.

rtagent serve [--port P]                       the media worker, locally
rtagent call --agent NAME [--script FILE]      a whole call against a worker, printed as it happens
rtagent scenarios [--text] [PATHS]             every caller scenario, checked and scored, as JSON
rtagent bench                                  latency, barge-in and concurrency figures as JSON
rtagent doctor [--json]                        which engines and store are configured, and whether they answer

``--dialog local|llm`` (or ``$RTAGENT_DIALOG_ENGINE``) picks the dialog engine; ``local`` is the default.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path

from agents.engines import DIALOG_KINDS, dialog_kind_from_env
from rtagent.settings import SettingsError

DIALOG_HELP = "dialog engine: local (offline form engine, default) or llm ($RTAGENT_DIALOG_ENGINE)"
SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "tests" / "scenarios"
"""Caller scripts, one per scenario. ``rtagent call --agent NAME`` uses NAME.yaml, else the first
NAME_*.yaml."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtagent", description="Real-time voice agents for phone lines.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the media worker (ACS media WebSocket)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    serve.add_argument("--engines", choices=["local", "simulated"], default="local")
    serve.add_argument("--agents-dir", type=Path, default=None)
    serve.add_argument("--endpoint-ms", type=int, default=None, help="override every agent's endpoint window")
    serve.add_argument("--dialog", choices=DIALOG_KINDS, default=None, help=DIALOG_HELP)
    serve.add_argument("--log-level", default="info")

    call = sub.add_parser("call", help="place a simulated phone call against a media worker")
    call.add_argument("--agent", help="agent name (overrides the script's)")
    call.add_argument("--script", type=Path, help="caller script (YAML); default: the agent's sample script")
    call.add_argument("--report", type=Path, help="write the JSON report here")
    call.add_argument("--wav", type=Path, help="write the call's audio here (caller left, agent right)")
    call.add_argument("--check", action="store_true", help="exit 1 unless the script's expectations hold")
    call.add_argument("--url", help="media WebSocket of a running worker (default: start one)")
    call.add_argument("--rate", type=int, choices=[16000, 24000], default=16000, help="media sample rate")
    call.add_argument("--endpoint-ms", type=int, default=None)
    call.add_argument("--dialog", choices=DIALOG_KINDS, default=None, help=DIALOG_HELP)
    call.add_argument("--log-level", default="warning", help="worker and simulator log level")
    call.add_argument(
        "--text", action="store_true", help="play the script against the dialog in text (no audio, no worker)"
    )
    call.add_argument(
        "--direct",
        action="store_true",
        help="skip the control plane: media straight to the worker with ?agent=NAME (the default when the "
        "script has no `called` number, or with --agent or --url)",
    )

    scen = sub.add_parser("scenarios", help="run caller scripts and score the records the agents captured")
    scen.add_argument("paths", nargs="*", type=Path, help="scripts or folders (default: tests/scenarios)")
    scen.add_argument("--text", action="store_true", help="dialog only, in text (seconds, not minutes)")
    scen.add_argument("--dialog", choices=DIALOG_KINDS, default=None, help=DIALOG_HELP)
    scen.add_argument("--reports", type=Path, help="write each call's JSON report into this folder")

    bench = sub.add_parser("bench", help="run the benchmark and print one JSON object")
    bench.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    bench.add_argument("--skip-concurrency", action="store_true")
    bench.add_argument("--max-calls", type=int, default=160, help="upper bound of the concurrency ramp")

    doctor = sub.add_parser(
        "doctor", help="say which engines and store are configured, and check each answers"
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")

    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except SettingsError as exc:  # a wrong or missing variable: its own message names it
        print(f"rtagent {args.command}: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "doctor":
        return _doctor(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "call":
        return _call(args)
    if args.command == "scenarios":
        return _scenarios(args)
    return _bench(args)


def _doctor(args: argparse.Namespace) -> int:
    from rtagent.doctor import as_json, format_checks, run_checks

    logging.basicConfig(level=logging.CRITICAL, stream=sys.stderr)  # each check reports its own failure
    checks = asyncio.run(run_checks())
    print(json.dumps(as_json(checks), indent=2) if args.json else format_checks(checks))
    return 1 if any(c.status == "fail" for c in checks) else 0


def _setup_logging(level: str, service_name: str | None = None) -> None:
    """Log lines on stderr, each with its call id; and, for a service, telemetry as the settings say."""
    from rtagent.telemetry import LOG_FORMAT, CallFormatter, setup_telemetry

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CallFormatter(LOG_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    if service_name is not None:
        setup_telemetry(service_name)


def _serve(args: argparse.Namespace) -> int:
    from media_worker.runtime import WorkerConfig, WorkerRuntime
    from media_worker.server import serve_forever
    from rtagent.settings import SpeechSettings, StoreSettings, WorkerSettings

    _setup_logging(args.log_level, "rtagent-worker")
    worker = WorkerSettings.from_env()
    runtime = WorkerRuntime(
        WorkerConfig(
            engines=args.engines,
            agents_dir=args.agents_dir or worker.agents_dir,
            endpoint_ms=args.endpoint_ms,
            dialog=args.dialog or dialog_kind_from_env(),
            media_secret=worker.media_secret,
            control_url=worker.control_url,
            speech=SpeechSettings.from_env(),
            store=StoreSettings.from_env(),
        )
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(runtime, args.host, args.port, drain_s=worker.drain_s))
    return 0


def _call(args: argparse.Namespace) -> int:
    from rtagent.local.report import check_expect
    from rtagent.local.run import run_call
    from rtagent.local.script import ScriptError, load_script

    # This process hosts the local control plane (the function handlers), so its spans are the answer's.
    _setup_logging(args.log_level, "rtagent-call")
    script_path = args.script
    if script_path is None:
        if not args.agent:
            print("rtagent call: give --agent NAME or --script FILE", file=sys.stderr)
            return 2
        script_path = SCRIPTS_DIR / f"{args.agent}.yaml"
        if not script_path.exists():  # else the agent's first scenario, e.g. triage_routine.yaml
            script_path = next(iter(sorted(SCRIPTS_DIR.glob(f"{args.agent}_*.yaml"))), script_path)
        if not script_path.exists():
            print(
                f"rtagent call: no sample script for agent {args.agent!r}; give --script FILE",
                file=sys.stderr,
            )
            return 2
    try:
        script = load_script(script_path)
        agent = script.resolved_agent(args.agent)
    except (ScriptError, ValueError) as exc:
        print(f"rtagent call: {exc}", file=sys.stderr)
        return 2

    if args.text:
        from rtagent.local.text_call import run_text_call

        report = asyncio.run(run_text_call(script, agent, dialog=args.dialog or dialog_kind_from_env()))
        for entry in report.transcript:
            print(f"{entry.role:>6} › {entry.text}")
    else:
        report = asyncio.run(
            run_call(
                script,
                agent,
                url=args.url,
                rate=args.rate,
                wav=args.wav,
                endpoint_ms=args.endpoint_ms,
                log_level=args.log_level,
                dialog=args.dialog,
                through_control_plane=bool(script.called) and not (args.direct or args.agent or args.url),
            )
        )
    text = report.model_dump_json(indent=2)
    if args.report:
        args.report.write_text(text + "\n")
    print(_summary_line(report, text=args.text), flush=True)
    if args.check:
        failures = check_expect(report, script.expect) if script.expect else []
        failures += [f"the agent missed {report.missed_turns} caller turn(s)"] if report.missed_turns else []
        for failure in failures:
            print(f"check failed: {failure}", file=sys.stderr)
        return 1 if failures else 0
    return 0


def _scenarios(args: argparse.Namespace) -> int:
    from rtagent.local.scenarios import run_scenarios, summary
    from rtagent.local.script import ScriptError

    _setup_logging("warning")
    paths: list[Path] = []
    for p in args.paths or [SCRIPTS_DIR]:
        paths += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    if not paths:
        print("rtagent scenarios: no caller scripts found", file=sys.stderr)
        return 2
    try:
        results = asyncio.run(run_scenarios(paths, text=args.text, dialog=args.dialog, reports=args.reports))
    except (ScriptError, ValueError) as exc:
        print(f"rtagent scenarios: {exc}", file=sys.stderr)
        return 2
    out = summary(results)
    print(json.dumps(out, indent=2))
    return 0 if out["passed"] else 1


def _summary_line(report: object, text: bool = False) -> str:
    from rtagent.local.report import CallReport, summarize

    assert isinstance(report, CallReport)
    resp = summarize(report.latency.response_ms)
    barge = summarize(report.latency.barge_in_ms)
    length = f"{len(report.transcript)} turns" if text else f"{report.duration_ms / 1000:.1f}s"
    lines = [
        f"\ncall {report.call_id}: ended by {report.ended_by} after {length},"
        f" agent {' → '.join(report.agents or [report.agent])}, escalated={str(report.escalated).lower()}"
        + (
            f" ({report.escalation_reason} → {report.escalation_target or 'default queue'})"
            if report.escalated
            else ""
        ),
        f"record: {json.dumps(report.record)}",
    ]
    if not text:
        lines.append(
            f"response ms p50={resp['p50']} p95={resp['p95']} n={resp['n']}; barge-in ms p50={barge['p50']}"
            f" n={barge['n']}; greeting ms={report.latency.greeting_ms}; missed turns={report.missed_turns}"
        )
    if report.call_history:
        from rtagent.local.stack import describe

        lines.append(f"control plane: {describe(report)}")
        for t in report.transfers:
            lines.append(f"transfer {t.get('attempt')}: to {t.get('target')} → {t.get('outcome')}")
    if report.unknown:
        lines.append("caller did not know: " + ", ".join(report.unknown))
    if report.usage:
        tokens = sum(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) for u in report.usage)
        cost = sum(u.get("cost_usd", 0.0) for u in report.usage)
        models = sorted({str(u.get("deployment")) for u in report.usage})
        lines.append(f"models: {', '.join(models)}; {tokens} tokens, about ${cost:.4f}")
    if report.errors:
        lines.append("errors: " + "; ".join(report.errors))
    return "\n".join(lines)


def _bench(args: argparse.Namespace) -> int:
    from bench.run import run_bench

    _setup_logging("warning")
    result = asyncio.run(
        run_bench(quick=args.quick, concurrency=not args.skip_concurrency, max_calls=args.max_calls)
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
