"""The local stand-in for the Functions host and the Durable runtime, which cannot be installed here.

It runs the real function handlers of ``functions.app`` (their user functions, as the host would call them)
behind a small HTTP server, and runs the real orchestrator generator with ``LocalDurableClient``: the
same ``start_new`` / ``raise_event`` / ``get_status`` the handlers use in Azure, and a context whose
``create_timer``, ``wait_for_external_event``, ``call_activity`` and ``task_any`` are asyncio futures. There
is no replay here (one process, nothing lost): replay safety is for the orchestrator's own tests.

Routes (as the host maps them): ``POST /api/incoming-call``, ``POST /api/callbacks``,
``POST /api/media/{call}``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from aiohttp import web

log = logging.getLogger(__name__)


class LocalTask:
    """A durable task as the orchestrator sees it: ``result``, ``is_completed``, ``cancel()``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str = "") -> None:
        self.name = name
        self.future: asyncio.Future[Any] = loop.create_future()
        self.result: Any = None
        self._handle: asyncio.TimerHandle | None = None

    @property
    def is_completed(self) -> bool:
        return self.future.done()

    def complete(self, value: Any) -> None:
        if not self.future.done():
            self.result = value
            self.future.set_result(self)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if not self.future.done():
            self.future.cancel()


class LocalContext:
    """The parts of ``DurableOrchestrationContext`` the call orchestrator uses."""

    def __init__(self, instance: LocalInstance, activities: Callable[[str], Callable[[Any], Any]]) -> None:
        self._instance = instance
        self._activities = activities
        self._loop = asyncio.get_running_loop()
        self.is_replaying = False
        self.instance_id = instance.instance_id

    def get_input(self) -> Any:
        return self._instance.input

    @property
    def current_utc_datetime(self) -> datetime:
        return datetime.now(UTC)

    def set_custom_status(self, status: Any) -> None:
        self._instance.custom_status = status

    def create_timer(self, fire_at: datetime) -> LocalTask:
        task = LocalTask(self._loop, "timer")
        delay = max(0.0, (fire_at - datetime.now(UTC)).total_seconds())
        task._handle = self._loop.call_later(delay, task.complete, None)
        return task

    def wait_for_external_event(self, name: str) -> LocalTask:
        task = LocalTask(self._loop, f"event:{name}")
        waiting = self._instance.events[name]
        if waiting:
            task.complete(waiting.popleft())
        else:
            self._instance.waiters[name].append(task)
        return task

    def call_activity(self, name: str, payload: Any) -> LocalTask:
        task = LocalTask(self._loop, f"activity:{name}")
        fn = self._activities(name)

        async def run() -> None:
            try:
                if inspect.iscoroutinefunction(fn):  # async activities run on the host's loop, as in Azure
                    task.complete(await fn(payload))
                else:
                    task.complete(await asyncio.to_thread(fn, payload))
            except Exception as exc:  # an activity failure surfaces in the orchestrator, as in Azure
                if not task.future.done():
                    task.future.set_exception(exc)

        self._instance.work.add(self._loop.create_task(run()))
        return task

    def task_any(self, tasks: list[LocalTask]) -> LocalTask:
        task = LocalTask(self._loop, "any")
        for t in tasks:
            t.future.add_done_callback(lambda f, t=t: None if f.cancelled() else task.complete(t))
        return task


@dataclass
class LocalInstance:
    instance_id: str
    input: Any
    runtime_status: str = "Running"
    custom_status: Any = None
    output: Any = None
    events: defaultdict[str, deque[Any]] = field(default_factory=lambda: defaultdict(deque))
    waiters: defaultdict[str, deque[LocalTask]] = field(default_factory=lambda: defaultdict(deque))
    work: set[asyncio.Task[Any]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class LocalStatus:
    """What ``get_status`` returns: the fields of ``DurableOrchestrationStatus`` the handlers read."""

    instance_id: str
    runtime_status: str | None
    custom_status: Any = None
    output: Any = None


class LocalDurableClient:
    """``start_new`` / ``raise_event`` / ``get_status`` over orchestrations run on this event loop."""

    def __init__(
        self,
        orchestrators: Callable[[str], Callable[[Any], Generator[Any, Any, Any]]],
        activities: Callable[[str], Callable[[Any], Any]],
    ) -> None:
        self._orchestrators = orchestrators
        self._activities = activities
        self.instances: dict[str, LocalInstance] = {}

    async def start_new(
        self, orchestration_function_name: str, instance_id: str, client_input: Any = None
    ) -> str:
        if instance_id in self.instances:
            raise RuntimeError(f"an orchestration with id {instance_id!r} already exists")
        instance = LocalInstance(instance_id, client_input)
        self.instances[instance_id] = instance
        generator_fn = self._orchestrators(orchestration_function_name)
        instance.task = asyncio.get_running_loop().create_task(self._run(instance, generator_fn))
        return instance_id

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        instance = self.instances.get(instance_id)
        if instance is None:
            raise KeyError(f"no orchestration {instance_id!r}")
        if instance.runtime_status != "Running":
            return  # Durable drops events for finished instances
        waiters = instance.waiters[event_name]
        while waiters:
            task = waiters.popleft()
            if not task.future.done():
                task.complete(event_data)
                return
        instance.events[event_name].append(event_data)

    async def get_status(self, instance_id: str) -> LocalStatus:
        instance = self.instances.get(instance_id)
        if instance is None:
            return LocalStatus(instance_id, None)
        return LocalStatus(instance_id, instance.runtime_status, instance.custom_status, instance.output)

    async def wait_finished(self, instance_id: str, timeout_s: float = 10.0) -> LocalStatus:
        instance = self.instances[instance_id]
        if instance.task is not None:
            await asyncio.wait_for(asyncio.shield(instance.task), timeout_s)
        return await self.get_status(instance_id)

    async def close(self) -> None:
        for instance in self.instances.values():
            if instance.task is not None and not instance.task.done():
                instance.task.cancel()
            for w in instance.work:
                w.cancel()
        tasks = [i.task for i in self.instances.values() if i.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, instance: LocalInstance, generator_fn: Callable[[Any], Any]) -> None:
        gen = generator_fn(LocalContext(instance, self._activities))
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                task = gen.throw(error) if error is not None else gen.send(value)
                error = None
                try:
                    await task.future
                    value = task.result
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    error = exc
        except StopIteration as stop:
            instance.output = stop.value
            instance.runtime_status = "Completed"
        except asyncio.CancelledError:
            instance.runtime_status = "Terminated"
            raise
        except Exception:
            log.exception("orchestration %s failed", instance.instance_id)
            instance.runtime_status = "Failed"


def _registered() -> tuple[dict[str, Any], Callable[[str], Any], Callable[[str], Any]]:
    """The user functions of ``functions.app``, by name, as the Functions host indexes them."""
    import functions.app as app_module

    by_name: dict[str, Any] = {}
    for builder in (getattr(app_module, n) for n in dir(app_module)):
        if hasattr(builder, "build"):
            fn = builder.build()
            by_name[fn.get_function_name()] = fn.get_user_function()

    def orchestrator(name: str) -> Any:
        return by_name[name].orchestrator_function

    def activity(name: str) -> Any:
        return by_name[name]

    return by_name, orchestrator, activity


class LocalFunctionsHost:
    """The HTTP side of the Functions app on 127.0.0.1, calling the real handlers with a local client."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.functions, orchestrators, activities = _registered()
        self.client = LocalDurableClient(orchestrators, activities)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/incoming-call", self._route("incoming_call_webhook"))
        app.router.add_post("/api/callbacks", self._route("callbacks"))
        app.router.add_post("/api/media/{call}", self._route("media_events"))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("local functions host on %s", self.url)

    async def close(self) -> None:
        await self.client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _route(self, name: str) -> Callable[[web.Request], Any]:
        handler = self.functions[name].__wrapped__  # the user function without the host's client binding

        async def serve(request: web.Request) -> web.Response:
            req = func.HttpRequest(
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers),
                params=dict(request.query),
                route_params=dict(request.match_info),
                body=await request.read(),
            )
            resp: func.HttpResponse = await handler(req, client=self.client)
            return web.Response(
                status=resp.status_code,
                body=resp.get_body(),
                content_type=resp.mimetype or "application/json",
            )

        return serve
