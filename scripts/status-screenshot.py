#!/usr/bin/env python3
"""Screenshots a running maitred's status page after it has refreshed a few times (so rates and percentiles
have a window), with headless Chromium driven over the DevTools pipe (no extra package).

    python3 scripts/status-screenshot.py URL OUT.png [SECONDS]

URL is the status page (http://127.0.0.1:8080/status); SECONDS (default 7) is how long the page runs first.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    url, out = sys.argv[1], sys.argv[2]
    wait = float(sys.argv[3]) if len(sys.argv) == 4 else 7.0
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="maitre-chromium-")

    def child_fds():
        # Through fresh numbers first: a pipe end that already is 3 or 4 would keep its close-on-exec flag.
        read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)
        os.dup2(read_end, 3)
        os.dup2(write_end, 4)

    browser = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
         f"--user-data-dir={profile}", "--window-size=1280,720", "--hide-scrollbars", "about:blank"],
        preexec_fn=child_fds, close_fds=False,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_browser_r)
    os.close(from_browser_w)
    buffer = b""
    next_id = [0]

    def call(method, params=None, session=None):
        nonlocal buffer
        next_id[0] += 1
        message = {"id": next_id[0], "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(to_browser_w, json.dumps(message).encode() + b"\0")
        deadline = time.time() + 30
        while time.time() < deadline:
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == next_id[0]:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
            chunk = os.read(from_browser_r, 65536)
            if not chunk:
                raise RuntimeError("the browser closed its pipe")
            buffer += chunk
        raise RuntimeError(f"{method}: no answer")

    try:
        target = call("Target.createTarget", {"url": url})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        time.sleep(wait)
        shot = call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        with open(out, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(f"{out}: {os.path.getsize(out)} bytes")
    finally:
        browser.kill()
        browser.wait()
        subprocess.run(["rm", "-rf", profile])


if __name__ == "__main__":
    main()
