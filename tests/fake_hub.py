"""A Hugging Face hub on 127.0.0.1 for tests: the few endpoints huggingface_hub calls to create a
repo, commit files and download them, with commits and branches kept in memory.

``with FakeHub() as hub:`` sets nothing itself; ``hub.serve_as_hf_endpoint(monkeypatch)``
points huggingface_hub at it as ``HF_ENDPOINT=hub.url`` set before start-up would.
``hub.requests`` records ``(method, path)`` of every call, so a test
can assert that a load made none.
"""
import base64
import hashlib
import http.server
import json
import threading
import urllib.parse

COMMIT_LENGTH = 40


class FakeHub:
    def __init__(self):
        self.repos = {}  # repo_id -> {"branches": {name: commit}, "commits": {commit: {path: bytes}}}
        self.requests = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub._resolve(self, body=False)

            def do_GET(self):
                hub._resolve(self, body=True)

            def do_POST(self):
                hub.requests.append(("POST", self.path))
                length = int(self.headers.get("Content-Length", 0))
                payload = self.rfile.read(length)
                path = urllib.parse.urlsplit(self.path).path
                if path == "/api/repos/create":
                    request = json.loads(payload)
                    repo_id = f"{request['organization']}/{request['name']}"
                    hub.repos.setdefault(repo_id, {"branches": {}, "commits": {}})
                    return hub._json(self, 200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})
                if path == "/api/validate-yaml":  # the model card's front matter, as the hub checks it
                    errors = hub._card_errors(json.loads(payload)["content"])
                    return hub._json(self, 400 if errors else 200, {"errors": errors, "warnings": []})
                parts = path.split("/")  # /api/models/owner/repo/{preupload|commit}/revision
                if len(parts) != 7 or parts[5] not in ("preupload", "commit"):
                    return hub._error(self, "NotFound")
                repo_id, action, revision = "/".join(parts[3:5]), parts[5], urllib.parse.unquote(parts[6])
                if repo_id not in hub.repos:
                    return hub._error(self, "RepoNotFound")
                if action == "preupload":
                    files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                             for f in json.loads(payload)["files"]]
                    return hub._json(self, 200, {"files": files})
                lines = [json.loads(line) for line in payload.splitlines() if line.strip()]
                added = {item["value"]["path"]: base64.b64decode(item["value"]["content"])
                         for item in lines if item["key"] == "file"}
                commit = hub.commit(repo_id, added, revision)
                return hub._json(self, 200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{commit}",
                                             "commitOid": commit})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def serve_as_hf_endpoint(self, monkeypatch):
        """Set ``HF_ENDPOINT`` (tfgen reads it at each call), the constants huggingface_hub derives
        from it at import (older releases build commit and file URLs from them), and a token, so
        uploads and downloads go here."""
        from huggingface_hub import constants

        monkeypatch.setenv("HF_ENDPOINT", self.url)
        monkeypatch.setattr(constants, "ENDPOINT", self.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_HOME", self.url + "/")
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            self.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setenv("HF_TOKEN", "a-test-token")

    def stop(self):
        """Shut the server down: the hub is unreachable from then on."""
        self.server.shutdown()
        self.server.server_close()

    def commit(self, repo_id, files, branch="main"):
        """Commit ``{path: bytes}`` on top of ``branch``; return the new commit's hash."""
        repo = self.repos.setdefault(repo_id, {"branches": {}, "commits": {}})
        parent = repo["branches"].get(branch)
        tree = {**repo["commits"].get(parent, {}), **files}
        commit = hashlib.sha1(json.dumps([parent, sorted((p, hashlib.sha256(b).hexdigest())
                                                          for p, b in tree.items())]).encode()).hexdigest()
        repo["commits"][commit] = tree
        repo["branches"][branch] = commit
        return commit

    @staticmethod
    def _card_errors(card):
        """The hub's complaints about a README.md: front matter that is no YAML mapping."""
        import yaml

        if not card.startswith("---\n"):
            return []
        try:
            front = yaml.safe_load(card.split("---\n")[1])
        except yaml.YAMLError as error:
            return [{"message": f"invalid YAML: {error}"}]
        return [] if isinstance(front, dict) else [{"message": "the front matter is not a mapping"}]

    def _resolve(self, handler, body):
        self.requests.append((handler.command, handler.path))
        path = urllib.parse.unquote(urllib.parse.urlsplit(handler.path).path)
        parts = path.strip("/").split("/")  # owner/repo/resolve/revision/file...
        repo = self.repos.get("/".join(parts[:2]))
        if len(parts) < 5 or parts[2] != "resolve" or repo is None:
            return self._error(handler, "RepoNotFound")  # other endpoints too: the hub's 404
        revision, file = parts[3], parts[4:]
        commit = revision if revision in repo["commits"] else repo["branches"].get(revision)
        if commit is None:
            return self._error(handler, "RevisionNotFound")
        content = repo["commits"][commit].get("/".join(file))
        if content is None:
            return self._error(handler, "EntryNotFound", commit)
        handler.send_response(200)
        handler.send_header("X-Repo-Commit", commit)
        handler.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        if body:
            handler.wfile.write(content)

    def _json(self, handler, status, value):
        data = json.dumps(value).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _error(self, handler, code, commit=None):
        data = json.dumps({"error": code}).encode()
        handler.send_response(404)
        handler.send_header("X-Error-Code", code)
        handler.send_header("X-Error-Message", code)
        if commit:
            handler.send_header("X-Repo-Commit", commit)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)
