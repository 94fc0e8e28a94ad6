"""A private JupyterLab server for the browser tests, and the notebooks it serves.

:func:`copy_notebooks` copies ``tutorials/`` into a temporary folder with old
outputs stripped (the run starts clean; nothing is written into the
repository).  :class:`JupyterLabServer` starts JupyterLab on 127.0.0.1 with its
own temporary configuration -- a free port with ``port_retries=0``, a random
token, private ``JUPYTER_CONFIG_DIR``/``JUPYTER_DATA_DIR``/``JUPYTER_RUNTIME_DIR``,
``IPYTHONDIR`` and ``MPLCONFIGDIR``, the news toast disabled, ``--allow-root``
as root, and a ``python3`` kernelspec that runs the interpreter running the
tests -- and stops it, and every kernel it started, by handle.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

#: The repository this file belongs to (``tests/browser/`` is two levels down).
REPO_ROOT = Path(__file__).resolve().parents[2]


class HarnessError(RuntimeError):
    """The harness itself could not do its job (server, browser, UI)."""


# ---------------------------------------------------------------------------
# Notebooks on disk
# ---------------------------------------------------------------------------


def discover_notebooks(folder: Path) -> list[Path]:
    """Tutorial notebooks directly inside ``folder``, sorted by name.

    Only ``folder/*.ipynb`` counts (the same rule as ``make test`` uses for
    nbval); sub-folders and ``.ipynb_checkpoints`` are ignored.
    """
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file())


def tutorials_dir() -> Path:
    """The folder whose notebooks are tested: ``$BINN_TUTORIALS_DIR`` or ``tutorials/``."""
    return Path(os.environ.get("BINN_TUTORIALS_DIR", REPO_ROOT / "tutorials")).resolve()


def copy_notebooks(source: Path, destination: Path) -> list[Path]:
    """Copy the tutorials folder and clear every notebook's outputs.

    The whole folder is copied (a notebook may read a file next to it); in
    each top-level notebook the outputs and execution counts are removed and
    the kernelspec is set to ``python3`` so JupyterLab starts this
    environment's kernel without asking.

    Parameters
    ----------
    source
        The repository's ``tutorials/`` folder.
    destination
        A folder that must not exist yet; becomes JupyterLab's ``root_dir``.

    Returns
    -------
    list of Path
        The copied notebooks, sorted by name.

    Raises
    ------
    ValueError
        If a notebook is not valid JSON or has no ``cells`` list.
    """
    shutil.copytree(
        source, destination,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    copies = discover_notebooks(destination)
    for notebook in copies:
        try:
            content = json.loads(notebook.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{source / notebook.name}: not valid notebook JSON ({err})") from err
        if not isinstance(content.get("cells"), list):
            raise ValueError(f"{source / notebook.name}: no 'cells' list")
        for cell in content["cells"]:
            if cell.get("cell_type") == "code":
                cell["outputs"] = []
                cell["execution_count"] = None
        metadata = content.setdefault("metadata", {})
        metadata["kernelspec"] = {
            "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        metadata.pop("widgets", None)  # stale widget state from a saved run
        notebook.write_text(json.dumps(content, indent=1), encoding="utf-8")
    return copies


# ---------------------------------------------------------------------------
# JupyterLab server
# ---------------------------------------------------------------------------


#: Linux's prctl(2), looked up here because the child of a fork must not import.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _stop_when_parent_dies() -> None:
    """In the child before ``exec``: on Linux, ask for SIGTERM when the test
    process dies without cleaning up (e.g. killed by a CI time limit), so the
    server does not outlive it; it then shuts its kernels down itself."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JupyterLabServer:
    """A private JupyterLab server for the test session.

    Parameters
    ----------
    root_dir
        Folder JupyterLab serves (the temporary copy of the tutorials).
    work_dir
        Empty temporary folder for configuration, runtime files and the log.
    start_timeout_s
        Seconds to wait for ``/api/status`` to answer.

    Notes
    -----
    Use as a context manager, or call :meth:`start` and, in a ``finally``,
    :meth:`stop`.  ``stop`` shuts kernels down through the REST API, asks the
    server to shut down, then terminates and finally kills it by its process
    handle; kernels still alive afterwards (found by their connection file in
    this server's private runtime folder) are killed by process id.
    """

    def __init__(self, root_dir: Path, work_dir: Path, start_timeout_s: float = 90.0) -> None:
        self.root_dir = Path(root_dir)
        self.work_dir = Path(work_dir)
        self.start_timeout_s = start_timeout_s
        self.token = secrets.token_hex(24)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.work_dir / "jupyterlab.log"
        self.runtime_dir = self.work_dir / "runtime"
        self._shutdowns: list[threading.Thread] = []

    # -- set-up -------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        """Environment for the server and, inherited, its kernels."""
        folders = {
            "JUPYTER_CONFIG_DIR": self.work_dir / "config",
            "JUPYTER_DATA_DIR": self.work_dir / "data",
            "JUPYTER_RUNTIME_DIR": self.runtime_dir,
            "JUPYTERLAB_SETTINGS_DIR": self.work_dir / "config" / "lab" / "user-settings",
            "JUPYTERLAB_WORKSPACES_DIR": self.work_dir / "config" / "lab" / "workspaces",
            "IPYTHONDIR": self.work_dir / "ipython",
            "MPLCONFIGDIR": self.work_dir / "matplotlib",
        }
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # A user's JUPYTER_PATH would be searched before our data folder, and an
        # MPLBACKEND such as Agg would stop the kernel from showing figures.
        for name in ("JUPYTER_PATH", "MPLBACKEND", "JUPYTER_TOKEN", "JUPYTER_CONFIG_PATH"):
            env.pop(name, None)
        env.update({name: str(path) for name, path in folders.items()})
        env["JUPYTER_PREFER_ENV_PATH"] = "0"  # our data folder first
        env["JUPYTER_PLATFORM_DIRS"] = "1"  # silences a migration warning
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _write_configuration(self) -> None:
        """Kernelspec, page config and user settings in the private folders."""
        kernel_dir = self.work_dir / "data" / "kernels" / "python3"
        kernel_dir.mkdir(parents=True, exist_ok=True)
        kernelspec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "metadata": {"debugger": False},
        }
        (kernel_dir / "kernel.json").write_text(json.dumps(kernelspec, indent=1))

        labconfig = self.work_dir / "config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        page_config = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
        (labconfig / "page_config.json").write_text(json.dumps(page_config))

        settings = self.work_dir / "config" / "lab" / "user-settings" / "@jupyterlab"
        # Render every cell (no virtual scrolling), so the DOM holds them all.
        tracker = settings / "notebook-extension" / "tracker.jupyterlab-settings"
        tracker.parent.mkdir(parents=True, exist_ok=True)
        tracker.write_text(json.dumps({"windowingMode": "none"}))
        # No "news / updates" notifications.
        notification = settings / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))

    def _command(self) -> list[str]:
        command = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--KernelSpecManager.ensure_native_kernel=False",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        return command

    def start(self) -> "JupyterLabServer":
        """Start the server and wait until its REST API answers.

        Retries on a new port (three attempts in all) when the chosen port
        was taken in the meantime, e.g. by a kernel of a parallel test worker.
        """
        self._write_configuration()
        env = self._environment()
        for _attempt in range(3):
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    self._command(), cwd=self.root_dir, env=env, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    preexec_fn=_stop_when_parent_dies)
            if self._wait_until_up():
                return self
            port_taken = "already in use" in self.log_tail(4000)
            self.stop()
            if not port_taken:
                break
        raise HarnessError(
            f"JupyterLab did not start within {self.start_timeout_s:.0f} s; "
            f"last lines of {self.log_path}:\n{self.log_tail()}")

    def _wait_until_up(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                self.api("GET", "/api/status", timeout_s=2)
                return True
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        return False

    # -- use ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, relative_path: str) -> str:
        """URL that opens one notebook in a fresh (reset) JupyterLab workspace."""
        quoted = urllib.parse.quote(relative_path)
        return f"{self.base_url}/doc/tree/{quoted}?reset&token={self.token}"

    def api(self, method: str, path: str, timeout_s: float = 10.0,
            body: dict[str, Any] | None = None) -> Any:
        """Call the server's REST API (``body`` sent as JSON); returns the
        decoded JSON answer, or None when it is empty."""
        headers = {"Authorization": f"token {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
        return json.loads(body) if body else None

    def notebook_content(self, relative_path: str) -> dict[str, Any]:
        """The notebook as last saved, through the contents API."""
        quoted = urllib.parse.quote(relative_path)
        return self.api("GET", f"/api/contents/{quoted}?content=1")

    def kernelspec_argv(self, name: str = "python3") -> list[str]:
        """The command line of a kernelspec as the server sees it."""
        specs = self.api("GET", "/api/kernelspecs")["kernelspecs"]
        if name not in specs:
            raise HarnessError(f"kernelspec {name!r} not known to the server: {sorted(specs)}")
        return list(specs[name]["spec"]["argv"])

    def start_session(self, relative_path: str, kernel_name: str = "python3") -> None:
        """Start a notebook's kernel now, so it boots while the page loads.

        JupyterLab connects to an existing session for the same path instead
        of starting its own kernel; this saves the kernel start-up (~2 s).
        """
        self.api("POST", "/api/sessions", timeout_s=30, body={
            "path": relative_path, "name": Path(relative_path).name,
            "type": "notebook", "kernel": {"name": kernel_name}})

    def shutdown_sessions(self, relative_path: str | None = None) -> None:
        """Delete sessions (and so their kernels): one notebook's, or all."""
        for session in self.api("GET", "/api/sessions"):
            if relative_path is None or session.get("path") == relative_path:
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout_s=30)

    def shutdown_session_soon(self, relative_path: str) -> None:
        """Like :meth:`shutdown_sessions` for one notebook, in a background
        thread: a kernel's polite shutdown takes ~3 s, which the next notebook
        need not wait for.  :meth:`stop` waits for these threads."""
        def shut_down() -> None:
            try:
                self.shutdown_sessions(relative_path)
            except (OSError, urllib.error.URLError, ValueError):
                pass  # stop() kills whatever is left

        thread = threading.Thread(target=shut_down, name=f"shutdown {relative_path}", daemon=True)
        thread.start()
        self._shutdowns.append(thread)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    # -- tear-down ----------------------------------------------------------

    def _kernel_pids(self) -> list[int]:
        """Processes whose command line names this server's runtime folder."""
        marker = str(self.runtime_dir).encode()
        pids: list[int] = []
        if not Path("/proc").is_dir():
            return pids
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ipykernel" in cmdline and marker in cmdline:
                pids.append(int(entry.name))
        return pids

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop kernels and server; safe to call twice and after a failed start.

        Kernels are deleted through the REST API, the server is asked to shut
        down (``/api/shutdown``), then terminated and at last killed through
        its process handle, ``timeout_s`` apart; kernels still alive after
        that (found by this server's private runtime folder in their command
        line) are killed by process id.
        """
        process = self.process
        if process is None:
            return
        for thread in self._shutdowns:
            thread.join(timeout=timeout_s)
        self._shutdowns.clear()
        if process.poll() is None:
            try:
                for kernel in self.api("GET", "/api/kernels", timeout_s=5):
                    self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout_s=10)
            except (OSError, urllib.error.URLError, ValueError):
                pass
            try:
                self.api("POST", "/api/shutdown", timeout_s=5)
            except (OSError, urllib.error.URLError, ValueError):
                pass
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=timeout_s)
        for pid in self._kernel_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process = None

    def __enter__(self) -> "JupyterLabServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
