"""Load a page in headless Chromium over the DevTools protocol (``--remote-debugging-pipe``:
NUL-separated JSON on file descriptors 3 and 4, so no websocket library is needed) and report
what happened: console messages, exceptions, log entries, every network request, and the
values of JavaScript expressions evaluated once the page has loaded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-pipe",
)


def find() -> str | None:
    """The Chromium executable (Debian's ``chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageLoad:
    console: list[tuple[str, str]] = field(default_factory=list)  # (type, text)
    exceptions: list[str] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[str]:
        return (
            [t for k, t in self.console if k in ("error", "assert")]
            + self.exceptions
            + [t for lvl, t in self.log if lvl == "error"]
            + self.failed
        )


class _Pipe:
    def __init__(self, exe: str, user_dir: str) -> None:
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()

        def child() -> None:
            a, b = os.dup(to_r), os.dup(from_w)  # either may already be 3 or 4
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={user_dir}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE if os.environ.get("CHROMIUM_DEBUG") else subprocess.DEVNULL,
            preexec_fn=child,
            close_fds=False,
        )
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        return self._id

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_r, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        i = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 60.0) -> dict[str, Any]:
        for k, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(k)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg.get("method") == method:
                return msg
            self.events.append(msg)

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=20)
        except Exception:  # noqa: BLE001 - closing after a failure: end the process we started
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._to_w)
            os.close(self._from_r)


def load(url: str, user_dir: str, expressions: dict[str, str] | None = None) -> PageLoad:
    """Open ``url``, wait for its load event, evaluate ``expressions`` (name -> JavaScript),
    and gather what the page logged and requested."""
    exe = find()
    if exe is None:
        raise RuntimeError("Chromium is not installed")
    pipe = _Pipe(exe, user_dir)
    out = PageLoad()
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.call(f"{domain}.enable", session=session)
        pipe.call("Page.navigate", {"url": url}, session=session)
        pipe.wait_for("Page.loadEventFired")
        for name, js in (expressions or {}).items():
            res = pipe.call(
                "Runtime.evaluate", {"expression": js, "returnByValue": True}, session=session
            )
            out.values[name] = res.get("result", {}).get("value")
        time.sleep(0.5)  # late console messages
        pipe.call("Runtime.evaluate", {"expression": "1"}, session=session)
    finally:
        pipe.close()
    for ev in pipe.events:
        m, p = ev.get("method"), ev.get("params", {})
        if m == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            out.console.append((p["type"], text))
        elif m == "Runtime.exceptionThrown":
            out.exceptions.append(p["exceptionDetails"].get("text", "exception"))
        elif m == "Log.entryAdded":
            out.log.append((p["entry"]["level"], p["entry"]["text"]))
        elif m == "Network.requestWillBeSent":
            out.requests.append(p["request"]["url"])
        elif m == "Network.loadingFailed":
            out.failed.append(f"failed to load: {p.get('errorText', '')}")
    return out
