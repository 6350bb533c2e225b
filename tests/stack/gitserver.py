"""A real git smart-HTTP server: ``ThreadingHTTPServer`` in front of ``git http-backend`` (CGI).

Every request is authenticated first:

* ``Authorization: Basic user:password`` against :meth:`GitServer.add_user` entries, or
  ``Basic anything:TOKEN`` / ``Bearer TOKEN`` against :meth:`GitServer.add_token` entries (the
  first form is how GitHub accepts ``x-access-token:<token>``).
* no or bad credentials: ``401`` with ``WWW-Authenticate: Basic realm="git"``;
* a ``read`` credential asking for ``git-receive-pack`` (push): ``403``.

Then ``git http-backend`` runs as CGI with ``GIT_PROJECT_ROOT`` = :attr:`GitServer.root`,
``GIT_HTTP_EXPORT_ALL=1`` and ``REMOTE_USER`` = the authenticated name.  Request bodies are streamed
into its stdin (``Transfer-Encoding: chunked`` bodies, which git sends for packs larger than
``http.postBuffer``, are de-chunked and the backend reads to EOF); the CGI ``Status:`` and other
headers are parsed and the body is streamed back (chunked when the CGI gave no Content-Length).

Server-side policy is plain git config on the bare repo, e.g.::

    server.git_config("svc.git", "receive.denyNonFastForwards", "true")   # no force pushes
    server.git_config("svc.git", "receive.denyDeletes", "true")           # no branch deletion
    server.git_config("svc.git", "receive.fsckObjects", "true")

``create_repo`` sets ``http.receivepack=true`` (http-backend refuses pushes otherwise unless
``REMOTE_USER`` is set).  The backend runs with ``GIT_CONFIG_NOSYSTEM=1`` and
``GIT_CONFIG_GLOBAL=/dev/null`` so only the repo's own config applies.

Clients should pass credentials without putting them in the URL or argv, e.g. with
:func:`auth_env` (``http.extraHeader`` through ``GIT_CONFIG_COUNT`` env vars) or ``GIT_ASKPASS``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO, NamedTuple, cast

from .ports import LOOPBACK

READ = "read"
WRITE = "write"
_PERMS = (READ, WRITE)
_CHUNK = 64 * 1024


class Request(NamedTuple):
    """One line of :attr:`GitServer.transcript`."""

    method: str
    path: str  # path + query string as requested
    user: str | None  # authenticated name, "token:<label>" for tokens, None if anonymous/bad
    status: int


@dataclass(frozen=True)
class _Principal:
    name: str
    perm: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def __init__(self, git: GitServer) -> None:
        self.git = git
        super().__init__((LOOPBACK, 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The CGI answer goes out in several small writes; with Nagle's algorithm on, each POST stalls ~40 ms on
    # delayed ACKs, which no real git host does.
    disable_nagle_algorithm = True
    server: _Server
    server_version = "shipyard-git/1"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:
        self.server.git._log(f"{self.address_string()} {format % args}")

    # -- request handling ----------------------------------------------------------------------

    def _handle(self) -> None:
        git = self.server.git
        path, _, query = self.path.partition("?")
        wants_push = path.endswith("/git-receive-pack") or "service=git-receive-pack" in query
        principal = git._authenticate(self.headers.get("Authorization"))
        if principal is None:
            status = self._refuse(401, "authentication required\n", {"WWW-Authenticate": 'Basic realm="git"'})
        elif wants_push and principal.perm != WRITE:
            status = self._refuse(403, f"{principal.name} has read-only access\n", {})
        else:
            status = self._run_backend(principal, urllib.parse.unquote(path), query)
        git._record(Request(self.command, self.path, principal.name if principal else None, status))

    def _refuse(self, status: int, message: str, headers: dict[str, str]) -> int:
        body = message.encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        # The request body (if any) was not read: the connection cannot be reused.
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True
        return status

    def _cgi_env(self, principal: _Principal, path_info: str, query: str) -> dict[str, str]:
        git = self.server.git
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(git.root),
            "GIT_PROJECT_ROOT": str(git.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": self.request_version,
            "SERVER_SOFTWARE": self.server_version,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "REMOTE_USER": principal.name,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
        }
        length = self.headers.get("Content-Length")
        if length is not None and not self._chunked():
            env["CONTENT_LENGTH"] = length
        for header, var in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "HTTP_GIT_PROTOCOL")):
            value = self.headers.get(header)
            if value:
                env[var] = value
        return env

    def _chunked(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def _pump_request(self, sink: IO[bytes]) -> None:
        """Copy the request body into ``sink`` (the backend's stdin), then close it."""
        try:
            if self._chunked():
                while True:
                    line = self.rfile.readline(65537)
                    size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        break
                    remaining = size
                    while remaining:
                        data = self.rfile.read(min(remaining, _CHUNK))
                        if not data:
                            raise ConnectionError("client closed mid-chunk")
                        sink.write(data)
                        remaining -= len(data)
                    self.rfile.readline(3)  # CRLF after the chunk
            else:
                remaining = int(self.headers.get("Content-Length") or 0)
                while remaining:
                    data = self.rfile.read(min(remaining, _CHUNK))
                    if not data:
                        raise ConnectionError("client closed mid-body")
                    sink.write(data)
                    remaining -= len(data)
        except (OSError, ValueError) as exc:
            self.server.git._log(f"request body: {exc!r}")
            self.close_connection = True
        finally:
            with contextlib.suppress(OSError):
                sink.close()

    def _run_backend(self, principal: _Principal, path_info: str, query: str) -> int:
        git = self.server.git
        proc = subprocess.Popen(
            ["git", "http-backend"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=git._stderr_fd,
            env=self._cgi_env(principal, path_info, query),
            cwd=git.root,
        )
        assert proc.stdin is not None and proc.stdout is not None
        stdout = cast(io.BufferedReader, proc.stdout)
        feeder = threading.Thread(target=self._pump_request, args=(proc.stdin,), daemon=True)
        feeder.start()
        try:
            status, reason, headers = self._read_cgi_headers(stdout)
            self.send_response(status, reason)
            has_length = False
            for key, value in headers:
                if key.lower() in ("connection", "transfer-encoding"):
                    continue
                has_length = has_length or key.lower() == "content-length"
                self.send_header(key, value)
            chunked = not has_length and self.command != "HEAD"
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:
                data = stdout.read1(_CHUNK)
                if not data:
                    break
                if self.command == "HEAD":
                    continue
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                else:
                    self.wfile.write(data)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return status
        except OSError as exc:  # client went away
            git._log(f"response: {exc!r}")
            self.close_connection = True
            return 499
        finally:
            feeder.join(timeout=30)
            with contextlib.suppress(OSError):
                proc.stdout.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    @staticmethod
    def _read_cgi_headers(stdout: io.BufferedReader) -> tuple[int, str | None, list[tuple[str, str]]]:
        status, reason = 200, None
        headers: list[tuple[str, str]] = []
        while True:
            line = stdout.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            value = value.strip()
            if key.lower() == "status":
                code, _, text = value.partition(" ")
                status, reason = int(code), (text or None)
            else:
                headers.append((key.strip(), value))
        if not headers and status == 200:
            status, reason = 502, "backend produced no headers"
        return status, reason, headers


class GitServer:
    """Smart-HTTP git server on 127.0.0.1:<random port>; repos live under :attr:`root`."""

    def __init__(self, root: Path | str | None = None) -> None:
        self._own_root = root is None
        self.workdir = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="gitserver-"))
        self.root = self.workdir / "repos"
        self.log_file = self.workdir / "gitserver.log"
        self.transcript: list[Request] = []
        self._users: dict[str, tuple[str, str]] = {}  # username -> (password, perm)
        self._tokens: dict[str, _Principal] = {}  # token -> principal
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stderr_fd: int | None = None
        self._log_fh: BinaryIO | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> GitServer:
        if self._server is not None:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        self._log_fh = open(self.log_file, "ab", buffering=0)  # noqa: SIM115 - closed in stop()
        self._stderr_fd = self._log_fh.fileno()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="git-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        if self._own_root:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> GitServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("git server is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    # -- credentials ---------------------------------------------------------------------------

    def add_user(self, username: str, password: str | None = None, perm: str = WRITE) -> str:
        """Allow basic auth for ``username``; returns the password (random if not given)."""
        if perm not in _PERMS:
            raise ValueError(f"perm must be one of {_PERMS}")
        password = password or secrets.token_urlsafe(18)
        with self._lock:
            self._users[username] = (password, perm)
        return password

    def add_token(self, token: str | None = None, perm: str = WRITE, label: str | None = None) -> str:
        """Allow ``Bearer <token>`` (or basic with the token as password); returns the token."""
        if perm not in _PERMS:
            raise ValueError(f"perm must be one of {_PERMS}")
        token = token or secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = _Principal(f"token:{label or token[:4]}", perm)
        return token

    def remove_credential(self, name_or_token: str) -> None:
        with self._lock:
            self._users.pop(name_or_token, None)
            self._tokens.pop(name_or_token, None)

    def _authenticate(self, header: str | None) -> _Principal | None:
        if not header:
            return None
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        with self._lock:
            if scheme.lower() == "bearer":
                return self._tokens.get(value)
            if scheme.lower() != "basic":
                return None
            try:
                username, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            entry = self._users.get(username)
            if entry is not None and secrets.compare_digest(entry[0], password):
                return _Principal(username, entry[1])
            return self._tokens.get(password)

    # -- repos ---------------------------------------------------------------------------------

    def repo_path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"repo name escapes the project root: {name!r}")
        return path

    def url(self, name: str) -> str:
        """Clone URL of ``name`` (no credentials in it)."""
        return f"{self.base_url}/{urllib.parse.quote(name)}"

    def create_repo(self, name: str, bare: bool = True, default_branch: str = "main") -> Path:
        """``git init`` a repo under the project root, ready to accept pushes over HTTP."""
        path = self.repo_path(name)
        args = ["git", "init", "--quiet", f"--initial-branch={default_branch}"]
        if bare:
            args.append("--bare")
        subprocess.run([*args, str(path)], check=True, env=_git_env())
        self.git_config(name, "http.receivepack", "true")
        if not bare:
            self.git_config(name, "receive.denyCurrentBranch", "updateInstead")
        return path

    def git_config(self, name: str, key: str, value: str) -> None:
        """Set repo-level git config (e.g. ``receive.denyNonFastForwards true``)."""
        subprocess.run(
            ["git", "config", "--file", str(self._config_file(name)), key, value], check=True, env=_git_env()
        )

    def _config_file(self, name: str) -> Path:
        path = self.repo_path(name)
        return path / ".git" / "config" if (path / ".git").is_dir() else path / "config"

    def refs(self, name: str) -> dict[str, str]:
        """``{ref: sha}`` of the repo as stored on the server."""
        out = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname) %(objectname)"],
            cwd=self.repo_path(name),
            capture_output=True,
            text=True,
            check=True,
            env=_git_env(),
        ).stdout
        pairs = (line.split(" ", 1) for line in out.splitlines() if line)
        return {ref: sha for ref, sha in pairs}

    # -- bookkeeping ---------------------------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self.transcript.append(request)

    def _log(self, message: str) -> None:
        fh = self._log_fh
        if fh is not None:
            with contextlib.suppress(OSError, ValueError):
                fh.write((message.rstrip() + "\n").encode(errors="replace"))

    def clear_transcript(self) -> None:
        with self._lock:
            self.transcript.clear()


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
    return env


def auth_env(
    username: str | None = None,
    password: str | None = None,
    *,
    token: str | None = None,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """Env for a git client that sends an ``Authorization`` header on every request.

    Uses ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` (git >= 2.31) to set
    ``http.extraHeader``, so the secret is neither in the URL nor in argv.  ``token`` gives
    ``Bearer <token>``; otherwise basic auth.  Existing ``GIT_CONFIG_*`` entries in ``base`` are
    kept.  Also sets ``GIT_TERMINAL_PROMPT=0`` so a 401 fails instead of prompting.
    """
    env = dict(os.environ if base is None else base)
    if token is not None:
        header = f"Authorization: Bearer {token}"
    elif username is not None and password is not None:
        basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        header = f"Authorization: Basic {basic}"
    else:
        raise ValueError("give username and password, or token")
    n = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    env[f"GIT_CONFIG_KEY_{n}"] = "http.extraHeader"
    env[f"GIT_CONFIG_VALUE_{n}"] = header
    env["GIT_CONFIG_COUNT"] = str(n + 1)
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env
