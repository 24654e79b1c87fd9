"""A stand-in for the Hugging Face hub on loopback: the few endpoints huggingface_hub calls when
fastembed fetches a model (repo info, file tree, file metadata and contents), serving local folders
as repos. Files are sent slowly, in chunks, so a download takes long enough to watch."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

SHA = "0" * 40  # the one revision every repo has


class FakeHub:
    def __init__(self, repos: dict[str, Path], chunk: int = 64 * 1024, pause: float = 0.02, port: int = 0):
        self.repos, self.chunk, self.pause = repos, chunk, pause
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeHub":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _files(self, repo: str) -> dict[str, Path]:
        root = self.repos[repo]
        return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_HubHandler,), {"hub": self})


class _HubHandler(BaseHTTPRequestHandler):
    """Answers for `hub` (set per FakeHub by `FakeHub._handler`)."""

    hub: FakeHub

    def log_message(self, *args):
        pass

    def _json(self, value) -> None:
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self, head: bool) -> None:
        path = unquote(urlparse(self.path).path)
        self.hub.requests.append(f"{self.command} {path}")
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            return self._repo_info(parts)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._file(parts, head)
        return self.send_error(404)

    def _repo_info(self, parts: list[str]) -> None:
        """/api/models/OWNER/NAME[/tree/...]: the repo's info, or its file tree."""
        repo = "/".join(parts[2:4])
        if repo not in self.hub.repos:
            return self.send_error(404)
        files = self.hub._files(repo)
        if len(parts) > 4 and parts[4] == "tree":
            return self._json([{"type": "file", "path": name, "size": p.stat().st_size,
                                "oid": _git_oid(p)} for name, p in files.items()])
        return self._json({"id": repo, "modelId": repo, "sha": SHA, "private": False,
                           "siblings": [{"rfilename": name} for name in files]})

    def _file(self, parts: list[str], head: bool) -> None:
        """/OWNER/NAME/resolve/REVISION/PATH: the file's metadata, and unless HEAD its bytes, slowly."""
        hub = self.hub
        repo, name = "/".join(parts[:2]), "/".join(parts[4:])
        p = hub._files(repo).get(name) if repo in hub.repos else None
        if p is None:
            return self.send_error(404)
        data = p.read_bytes()
        self.send_response(200)
        self.send_header("X-Repo-Commit", SHA)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            for i in range(0, len(data), hub.chunk):
                self.wfile.write(data[i:i + hub.chunk])
                time.sleep(hub.pause)
        return None

    def do_GET(self):
        self._route(head=False)

    def do_HEAD(self):
        self._route(head=True)


def _git_oid(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
