import os
import uuid
from pathlib import Path

import pytest
from launched import SESSION_MARKER, describe, end_processes, own_lineage, started_by_session

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TRU_SHARED_DATA", REPO.parent / "shared" / "data"))
LEFT_RUNNING = pytest.StashKey[list]()  # (who left them, what they were) for the summary


def pytest_configure(config):
    """Marks every process the run starts, so that what a test leaves running is found wherever it is
    (tests/launched.py); a fresh marker per run keeps other runs on the machine out."""
    os.environ[SESSION_MARKER] = uuid.uuid4().hex
    config.stash[LEFT_RUNNING] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """No process outlives the test that started it: after the test and the fixtures that end with it,
    whatever the outcome, any process of the run still running is killed and fails the test here."""
    try:
        result = yield
    finally:
        left = end_left_running(item.config, item.nodeid)
    if left:
        pytest.fail(
            f"{item.nodeid} (or a fixture that ended with it) left {len(left)} processes running, "
            "now killed:\n" + "\n".join(left),
            pytrace=False,
        )
    return result


def pytest_sessionfinish(session):
    """The run fails if any process it started was left running, by a test or a session fixture."""
    end_left_running(session.config, "the session's fixtures")
    if session.config.stash[LEFT_RUNNING] and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    if config.stash[LEFT_RUNNING]:
        terminalreporter.section("processes left running")
        for culprit, process in config.stash[LEFT_RUNNING]:
            terminalreporter.line(f"{culprit}: {process}")


def end_left_running(config, culprit: str) -> list[str]:
    """Kill the processes of this run still running, record them against ``culprit`` and describe them."""
    running = started_by_session(os.environ[SESSION_MARKER], exclude=own_lineage())
    descriptions = {p.pid: describe(p) for p in running}
    stuck = {p.pid for p in end_processes(running)}
    left = [text + (" (would not die)" if pid in stuck else "") for pid, text in descriptions.items()]
    config.stash[LEFT_RUNNING].extend((culprit, process) for process in left)
    return left


@pytest.fixture(scope="session", autouse=True)
def own_extension_builds(tmp_path_factory):
    """Extensions that torch builds on the fly during the tests (DeepSpeed's CPU communication op) go to
    a folder of this session, not the user's cache, where a build killed earlier may have left its lock
    (tru.core.extension_builds) and every DeepSpeed run would wait on it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path_factory.mktemp("torch_extensions")))
        yield


@pytest.fixture(scope="session", autouse=True)
def allocator_left_alone():
    """Training with gradient checkpointing on the CPU fixes glibc's mmap threshold for the rest of the
    process (tru.core.host_memory); this process runs the whole suite, so it keeps glibc's defaults unless a
    test asks otherwise (tests/test_host_memory.py tries the modes in processes of their own)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRU_HOST_MEMORY", "glibc")
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "tofu" / "forget01.jsonl").exists():
        pytest.skip(f"benchmark data not found at {SHARED_DATA} (set TRU_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from tru.modeling.models import load_tokenizer

    return load_tokenizer("tiny-llama")


@pytest.fixture(scope="session")
def small_tofu(shared_data, tmp_path_factory) -> dict:
    """Eight forget01 items, sixteen retain items and R-TOFU targets, as files."""
    from tru.core.files import write_jsonl
    from tru.data.tofu import load_tofu

    root = tmp_path_factory.mktemp("small_tofu")
    forget = load_tofu(shared_data / "tofu", "forget01")[:8]
    retain = load_tofu(shared_data / "tofu", "retain99")[:16]
    write_jsonl(root / "forget.jsonl", [x.to_dict() for x in forget])
    write_jsonl(root / "retain.jsonl", [x.to_dict() for x in retain])
    return {
        "forget": str(root / "forget.jsonl"),
        "retain": str(root / "retain.jsonl"),
        "targets": f"rtofu:{shared_data / 'rtofu' / 'idkcot.jsonl'}",
        "refusals": str(shared_data / "tofu" / "idk.jsonl"),
        "forget_items": forget,
    }


@pytest.fixture(scope="session")
def tiny_finetuned(small_tofu, tmp_path_factory) -> str:
    """The tiny model taught the small forget and retain sets, so that there is something to unlearn."""
    from tru.config import FinetuneConfig
    from tru.core.files import write_jsonl
    from tru.data.readers import read_records
    from tru.data.records import QAItem
    from tru.train.finetune import finetune

    root = tmp_path_factory.mktemp("tiny_finetuned")
    items = read_records(small_tofu["forget"], QAItem) + read_records(small_tofu["retain"], QAItem)
    write_jsonl(root / "all.jsonl", [x.to_dict() for x in items])
    run_dir = finetune(
        FinetuneConfig(
            model="tiny-llama",
            out=str(root / "run"),
            data=str(root / "all.jsonl"),
            epochs=20,
            lr=3e-3,
            batch_size=8,
            max_length=160,
            report_to="none",
            lr_scheduler="constant",
        )
    )
    return str(run_dir)


@pytest.fixture(scope="session")
def tiny_chat():
    """tiny-llama loaded once behind a LocalChat, shared by every test server."""
    from tru.llm.local_chat import LocalChat

    return LocalChat("tiny-llama")


@pytest.fixture
def tru_server(tiny_chat):
    """Factory: `tru serve` on tiny-llama, on a free loopback port, in a background thread.

    ``server = tru_server(canned_reply=path, fail_first=2, log_requests=True, max_pending=2)`` takes
    ServeConfig settings and the testing aids' (tests/serve_aids.py, given to the server as its hooks
    when any is set) and returns a RunningServer (``.url`` is the OpenAI base URL, ``.stats()`` the
    request counts, ``.hooks.log()`` the request log of ``log_requests``); every server is stopped after
    the test. The token comes only from a ``token_env`` or ``token_file`` the test sets, never from a
    stray $TRU_SERVE_TOKEN.
    """
    from serve_aids import AID_SETTINGS, TestingAids

    from tru.llm.server import ServeConfig, start_server

    servers = []

    def start(**settings):
        aids = {name: settings.pop(name) for name in AID_SETTINGS if name in settings}
        settings.setdefault("token_env", "")
        config = ServeConfig(model="tiny-llama", port=0, **settings)
        server = start_server(config, chat=tiny_chat, hooks=TestingAids(**aids) if aids else None)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
