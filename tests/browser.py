"""Render a local HTML page in headless Chromium over the DevTools protocol.

Collects console errors, uncaught exceptions, failed requests and every request that is
not the page itself or a data: URI; measures each <img> and lists the sections; saves a
full-page screenshot. Chromium runs with a fresh profile and no background networking.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import websocket

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]
PROBE_PAGE = """JSON.stringify({
  images: [...document.images].map(i => {
    const r = i.getBoundingClientRect();
    return {id: i.closest('figure') ? i.closest('figure').id : '', complete: i.complete,
            natural: [i.naturalWidth, i.naturalHeight], shown: [r.width, r.height]};
  }),
  sections: [...document.querySelectorAll('section')].map(s => s.id),
  verdicts: [...document.querySelectorAll('table.summary tr td:nth-child(3)')]
            .map(td => td.textContent.trim()),
})"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _Session:
    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(event)
            self.events.append(json.loads(self.ws.recv()))


def render(page: Path, screenshot: Path, width: int = 1280) -> dict:
    """Load `page` (file://) and return what the browser saw; save a PNG screenshot."""
    page = Path(page).resolve()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    proc = subprocess.Popen(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            port = found and int(found.group(1))
        if port is None:
            raise RuntimeError("chromium did not open its DevTools port")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            target = next(t for t in json.load(r) if t["type"] == "page")
        s = _Session(target["webSocketDebuggerUrl"])
        for domain in ("Runtime", "Log", "Network", "Page"):
            s.call(f"{domain}.enable")
        s.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        url = page.as_uri()
        s.call("Page.navigate", url=url)
        s.wait_for("Page.loadEventFired")
        seen = json.loads(
            s.call("Runtime.evaluate", expression=PROBE_PAGE, returnByValue=True)["result"]["value"]
        )
        size = s.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = s.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1},
        )
        Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        s.ws.close()
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    errors, failed, outside = [], [], []
    for e in s.events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            errors.append(json.dumps(p.get("args")))
        elif method == "Runtime.exceptionThrown":
            errors.append(p["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            errors.append(p["entry"].get("text", ""))
        elif method == "Network.loadingFailed":
            failed.append(p.get("errorText", ""))
        elif method == "Network.requestWillBeSent":
            req = p["request"]["url"]
            if req != url and not req.startswith("data:"):
                outside.append(req)
    return {
        "errors": errors,
        "failed": failed,
        "requests": outside,
        "height": size["height"],
        **seen,
    }
