"""The Asterisk sandbox against the real thing: idempotent `up`, status, the AMI user's limits, bad states."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.lib.rawami import RawAmi
from dialer import prompts
from dialer.sandbox import Sandbox, SandboxLayout, sandbox_prompts_dir
from dialer.sandbox.build import root_problem
from dialer.sandbox.cli import sandbox_command
from dialer.sandbox.process import port_is_free
from tests.asterisk_plugin import SandboxHandle

pytestmark = pytest.mark.asterisk

REPO = Path(__file__).resolve().parents[2]
CLI = (
    "import sys; from dialer.sandbox.cli import sandbox_command; "
    "sys.exit(sandbox_command(sys.argv[1], sys.stdout))"
)


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another program (this test) is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.fixture
def no_debootstrap_path(tmp_path: Path) -> str:
    """A PATH with the host tools the sandbox needs except debootstrap."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("chroot", "umount", "sh"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    return f"{bin_dir}:/usr/bin:/bin"


def _run_cli(action: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`dialer sandbox <action>` in a child process, so PATH and the sandbox folder are its own."""
    return subprocess.run(
        [sys.executable, "-c", CLI, action],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_up_again_is_fast_and_keeps_the_same_asterisk(sandbox: SandboxHandle) -> None:
    before = sandbox.sandbox.status()
    started = time.monotonic()
    creds = sandbox.sandbox.up(io.StringIO())
    elapsed = time.monotonic() - started
    after = sandbox.sandbox.status()
    assert elapsed < 3.0, f"a second `up` took {elapsed:.1f} s"
    assert after.running and after.pids == before.pids, "a second `up` must reload, not restart"
    assert (creds.host, creds.port, creds.username, creds.secret) == (
        sandbox.host,
        sandbox.port,
        sandbox.username,
        sandbox.secret,
    )


def test_cli_up_and_status_report_the_ami_login(sandbox: SandboxHandle) -> None:
    out = io.StringIO()
    assert sandbox_command("up", out) == 0
    assert f"AMI host {sandbox.host} port {sandbox.port} user dialer" in out.getvalue()
    out = io.StringIO()
    assert sandbox_command("status", out) == 0
    text = out.getvalue()
    assert "Asterisk sandbox: running (pid" in text
    assert f"{sandbox.host}:{sandbox.port} user dialer" in text
    assert "Asterisk 22." in text
    assert str(sandbox.sandbox.layout.root) in text


def test_the_sandbox_runs_the_projects_dialplan_and_prompts(sandbox: SandboxHandle) -> None:
    dialplan = sandbox.rx("dialplan show s@dialer-reminder")
    assert "extensions_dialer.conf" in dialplan
    assert "Gosub(dialer-report-digit" in dialplan
    assert "UserEvent(DialerDigit" in sandbox.rx("dialplan show s@dialer-report-digit")
    assert "patients.conf" in sandbox.rx("dialplan show patients")
    assert "reception" in sandbox.rx("queue show reception")
    prompts = sandbox.sandbox.layout.prompts_dir
    for name in ("intro", "menu", "invalid", "confirmed", "cancelled", "connecting", "goodbye", "callback"):
        assert (prompts / f"reminder-{name}.wav").stat().st_size > 1000


async def _privileges(handle: SandboxHandle) -> dict[str, tuple[str, str]]:
    ami = await RawAmi.connect(handle.host, handle.port)
    try:
        login = await ami.login(handle.username, handle.secret)
        assert login["Response"] == "Success"
        key = f"privtest:{os.getpid()}:1"
        handle.rx(f"database put dialer {key} cause=16")
        checks: list[tuple[str, str, list[tuple[str, str]]]] = [
            ("Ping", "Ping", []),
            ("CoreShowChannels", "CoreShowChannels", []),
            ("QueueStatus", "QueueStatus", []),
            ("QueueSummary", "QueueSummary", []),
            ("Status", "Status", []),
            ("DBGet", "DBGet", [("Family", "dialer"), ("Key", key)]),
            ("Command", "Command", [("Command", "core show version")]),
            ("DBDel", "DBDel", [("Family", "dialer"), ("Key", key)]),
            ("DBPut", "DBPut", [("Family", "dialer"), ("Key", key), ("Val", "forged")]),
            ("UserEvent", "UserEvent", [("UserEvent", "DialerDigit"), ("AttemptId", key), ("Digit", "1")]),
            ("ModuleLoad", "ModuleLoad", [("Module", "app_system.so"), ("LoadType", "load")]),
            ("QueueAdd", "QueueAdd", [("Queue", "reception"), ("Interface", "Local/ring@sandbox-agents")]),
            (
                "QueueRemove",
                "QueueRemove",
                [("Queue", "reception"), ("Interface", "Local/ring@sandbox-agents")],
            ),
            ("QueuePause", "QueuePause", [("Interface", "Local/nobody@sandbox-agents"), ("Paused", "false")]),
            (
                "Originate System",
                "Originate",
                [
                    ("Channel", "Local/1@patients"),
                    ("Application", "System"),
                    ("Data", "id"),
                    ("Async", "true"),
                ],
            ),
            ("SetvarDB", "Setvar", [("Variable", f"DB(dialer/{key})"), ("Value", "forged")]),
            ("Setvar DB_DELETE", "Setvar", [("Variable", f"DB_DELETE(dialer/{key})"), ("Value", "1")]),
            ("DBGet after delete", "DBGet", [("Family", "dialer"), ("Key", key)]),
        ]
        results = {}
        for label, action, headers in checks:
            reply = await ami.send(action, headers)
            results[label] = (reply["Response"], reply.get("Message", ""))
        return results
    finally:
        await ami.close()


def test_prompts_default_to_the_sandboxs_sounds_folder(sandbox: SandboxHandle) -> None:
    # `dialer prompts build` hands dialer.prompts the sandbox's folder (prompts may not import the sandbox).
    assert sandbox_prompts_dir() == sandbox.sandbox.layout.prompts_dir
    out = io.StringIO()
    assert prompts.prompts_command(None, [], out, sandbox_dir=sandbox_prompts_dir()) == 0
    assert f"prompts ready in {sandbox.sandbox.layout.prompts_dir}" in out.getvalue()


def test_the_ami_user_can_do_its_job_and_nothing_more(sandbox: SandboxHandle) -> None:
    results = asyncio.run(_privileges(sandbox))
    for allowed in ("Ping", "CoreShowChannels", "QueueStatus", "QueueSummary", "Status", "DBGet"):
        assert results[allowed][0] == "Success", (allowed, results[allowed])
    for refused in ("Command", "DBDel", "DBPut", "UserEvent", "ModuleLoad"):
        assert results[refused] == ("Error", "Permission denied"), (refused, results[refused])
    # `agent` is granted for QueuePause (an administrator held for a callback near its deadline); it allows
    # the queue's member actions too, and nothing beyond them. The member it was asked about does not exist.
    assert results["QueuePause"][1] != "Permission denied", results["QueuePause"]
    assert results["QueueRemove"][0] == "Success", results["QueueRemove"]
    assert results["Originate System"][0] == "Error"
    assert "Forbidden" in results["Originate System"][1]
    # DB() is a "dangerous" function from AMI: the record cannot be forged.
    assert results["SetvarDB"][0] == "Error"
    # ...but DB_DELETE's write side is not, which is how the service forgets an outcome without `system`.
    assert results["Setvar DB_DELETE"][0] == "Success"
    assert results["DBGet after delete"] == ("Error", "Database entry not found")


def test_a_wrong_secret_is_refused(sandbox: SandboxHandle) -> None:
    async def attempt() -> dict[str, str]:
        ami = await RawAmi.connect(sandbox.host, sandbox.port)
        try:
            return await ami.login(sandbox.username, sandbox.secret + "x")
        finally:
            await ami.close()

    reply = asyncio.run(attempt())
    assert reply["Response"] == "Error"
    assert "Authentication failed" in reply["Message"]


def test_a_port_taken_by_another_program_is_a_clear_error(held_port: int, tmp_path: Path) -> None:
    assert not port_is_free(held_port)
    started = time.monotonic()
    env = {"DIALER_SANDBOX_DIR": str(tmp_path / "sb"), "DIALER_SANDBOX_AMI_PORT": str(held_port)}
    done = _run_cli("up", env)
    assert done.returncode == 1
    assert done.stdout.strip().splitlines() == [
        f"error: Port {held_port} on 127.0.0.1 is already taken by another program; stop it "
        f"(`ss -ltnp 'sport = :{held_port}'` shows which) or set DIALER_SANDBOX_AMI_PORT to a free port."
    ]
    # Said before any build was attempted.
    assert time.monotonic() - started < 10
    assert not (tmp_path / "sb" / "root.building").exists()


def test_a_bad_port_setting_is_a_clear_error(tmp_path: Path) -> None:
    done = _run_cli("status", {"DIALER_SANDBOX_DIR": str(tmp_path / "sb"), "DIALER_SANDBOX_AMI_PORT": "50x8"})
    assert done.returncode == 1
    assert "DIALER_SANDBOX_AMI_PORT='50x8' is not a TCP port" in done.stdout


def test_missing_debootstrap_names_the_package(tmp_path: Path, no_debootstrap_path: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    done = _run_cli(
        "up",
        {
            "DIALER_SANDBOX_DIR": str(tmp_path / "sb"),
            "DIALER_SANDBOX_AMI_PORT": str(free_port),
            "PATH": no_debootstrap_path,
        },
    )
    assert done.returncode == 1
    expected = "error: debootstrap is not installed; run `apt-get install debootstrap` and try again."
    assert expected in done.stdout


def test_not_root_is_a_clear_error(tmp_path: Path) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop root for this test")
    tmp_path.chmod(0o777)
    # The unprivileged user runs a world-readable copy of the package: the checkout may sit in a folder only
    # root can enter (a clone in `mktemp -d`).
    code = Path(tempfile.mkdtemp(prefix="dialer-nonroot-"))
    code.chmod(0o755)
    shutil.copytree(REPO / "dialer", code / "dialer", ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        **os.environ,
        "DIALER_SANDBOX_DIR": str(tmp_path / "sb"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(code),
    }
    try:
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", CLI, "up"],
            cwd=code,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        shutil.rmtree(code)
    assert done.returncode == 1, done.stderr
    expected = "error: The Asterisk sandbox needs root (it uses chroot); run it as root, e.g. with sudo."
    assert expected in done.stdout


def _broken_root(base: Path, with_marker: bool) -> SandboxLayout:
    """A chroot whose asterisk binary is present but cannot run (its libraries are missing)."""
    real = SandboxLayout.from_env()
    layout = SandboxLayout(base=base, config_dir=real.config_dir, ami_port=real.ami_port)
    (layout.root / "usr/sbin").mkdir(parents=True)
    shutil.copy2(real.root / "usr/sbin/asterisk", layout.root / "usr/sbin/asterisk")
    if with_marker:
        layout.marker.write_text("built\n", encoding="utf-8")
    return layout


def test_a_broken_chroot_is_detected(sandbox: SandboxHandle, tmp_path: Path) -> None:
    assert root_problem(sandbox.sandbox.layout) is None
    assert root_problem(SandboxLayout(base=tmp_path / "none", config_dir=tmp_path)) == "not built yet"
    unfinished = _broken_root(tmp_path / "unfinished", with_marker=False)
    assert root_problem(unfinished) == "the last build did not finish"
    broken = _broken_root(tmp_path / "broken", with_marker=True)
    problem = root_problem(broken)
    assert problem is not None and problem.startswith("its Asterisk binary does not run")


def test_a_broken_chroot_is_rebuilt_not_reused(
    sandbox: SandboxHandle, tmp_path: Path, no_debootstrap_path: str
) -> None:
    # Without debootstrap the rebuild stops at once, which shows `up` chose to rebuild and did not start it.
    broken = _broken_root(tmp_path / "sb", with_marker=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    done = _run_cli(
        "up",
        {
            "DIALER_SANDBOX_DIR": str(broken.base),
            "DIALER_SANDBOX_AMI_PORT": str(free_port),
            "PATH": no_debootstrap_path,
        },
    )
    assert done.returncode == 1
    assert "The sandbox chroot needs building: its Asterisk binary does not run" in done.stdout
    assert "debootstrap is not installed" in done.stdout
    assert not Sandbox(broken).is_running()


def test_a_second_up_waits_for_the_first(tmp_path: Path, no_debootstrap_path: str) -> None:
    base = tmp_path / "sb"
    base.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DIALER_SANDBOX_DIR": str(base),
        "DIALER_SANDBOX_AMI_PORT": str(free_port),
        "PATH": no_debootstrap_path,
    }
    with (base / "sandbox.lock").open("a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        child = subprocess.Popen(
            [sys.executable, "-c", CLI, "up"], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            time.sleep(2.0)  # the point: for this long the second `up` must keep waiting
            assert child.poll() is None, "the second `up` must wait while another holds the lock"
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        out, _ = child.communicate(timeout=60)
    assert "Waiting for another `dialer sandbox` run to finish" in out
    assert "debootstrap is not installed" in out
