import asyncio
import inspect
import os

import pytest

# Tests never export telemetry, even from a shell that has an Application Insights connection string (this
# reaches the worker and function-app subprocesses too); tests/test_telemetry.py records in memory.
os.environ["RTAGENT_TELEMETRY"] = "off"


@pytest.fixture(autouse=True)
def _tool_data_in_a_temp_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tools that file records (claims, intakes) write under a temp folder, never into the checkout."""
    monkeypatch.setenv("RTAGENT_DATA_DIR", str(tmp_path_factory.mktemp("rtagent-data")))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on a fresh event loop (no plugin needed)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        funcargs = pyfuncitem.funcargs
        args = {name: funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None
