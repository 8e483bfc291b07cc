"""The interactive diagram page (``archdsl render -o net.html``): its content, and the page at
work in a real browser: headless Chromium (Debian's ``chromium`` package; ``make setup``
installs it), driven through the DevTools protocol over a pipe. A click on a box fills the side
panel; the search field finds a node; the wheel zooms; a drag pans; a screenshot is taken.

Set ``ARCHDSL_SCREENSHOTS=DIR`` to keep the screenshots for a look.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import archdsl
from archdsl.cli import main
from archdsl.diagram import diagram
from archdsl.render import render
from archdsl.render_html import dot_ids, page_data

ROOT = Path(__file__).resolve().parents[1]
NO_DOT = "Graphviz 'dot' binary not installed"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason=NO_DOT)
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
NO_CHROMIUM = ("no headless Chromium (Debian: apt-get install chromium; `make setup` installs it "
               "where it can)")


# ---------------------------------------------------------------------------- the page's content
def test_page_data_describes_every_box():
    g = archdsl.load(ROOT / "specs" / "resnet18.yaml")
    d = diagram(g)
    data = page_data(g, d)
    assert [b["dom"] for b in data["boxes"]] == list(dot_ids(d).values())
    conv = data["boxes"][data["index"]["layer2.0.conv1"]]
    node = g["layer2.0.conv1"]
    assert conv["type"] == "conv2d" and conv["key_args"] == "3×3 /2, 128"
    assert conv["args"]["filters"] == 128 and conv["args"]["stride"] == 2
    assert conv["inputs"] == [["layer1.1.relu2", [64, 56, 56]]]
    assert conv["shape"] == [128, 28, 28] and conv["trainable"] == node.trainable == 147_456 // 2
    assert conv["macs"] == node.macs and conv["rf"] == str(node.rf)
    assert conv["scope"] == "layer2.0 (basic)" and conv["loc"] == str(node.loc)
    assert re.fullmatch(r".*specs/lib/resnet\.yaml:\d+:\d+", conv["loc"])  # the block's file
    out = data["boxes"][-1]
    assert out["kind"] == "output" and out["inputs"] == [["fc", [1000]]]


def test_page_data_of_collapsed_blocks():
    g = archdsl.load(ROOT / "specs" / "resnet18.yaml")
    data = page_data(g, diagram(g, depth=1))
    block = data["boxes"][data["index"]["layer3.0.conv2"]]  # a member finds its block
    assert block["name"] == "layer3.0" and block["kind"] == "block" and block["type"] == "basic"
    members = [n for n in g if g[n].scope and g[n].scope[0][0] == "layer3.0"]
    assert block["members"] == members
    assert block["trainable"] + block["non_trainable"] == sum(
        g[n].trainable + g[n].non_trainable for n in members)
    assert block["inputs"] == [["layer2.1", [128, 28, 28]]]


@needs_dot
def test_page_is_self_contained(tmp_path):
    out = render(archdsl.load(ROOT / "specs" / "cifar10_cnn.yaml"), tmp_path / "net.html")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.count("<svg") == 1
    urls = set(re.findall(r"(?:src|href)=\"([^\"#][^\"]*)\"", text))
    assert not urls, urls  # nothing to fetch: no scripts, styles or images from elsewhere
    assert not re.search(r"https?://(?!www\.w3\.org/)", text)
    data = json.loads(re.search(r'id="archdsl-data">(.*?)</script>', text, re.S).group(1))
    assert data["name"] == "cifar10-cnn" and len(data["boxes"]) == 28
    for box in data["boxes"]:
        assert f'id="{box["dom"]}"' in text


def test_names_cannot_end_the_script(tmp_path):
    from archdsl.render_html import _script_json

    text = _script_json({"name": "</script><script>alert(1)</script>\ud800"})
    assert "</" not in text and "\ud800" not in text
    assert json.loads(text)["name"].startswith("</script>")


@needs_dot
def test_render_html_from_the_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["render", "resnet18", "-o", "r18.html", "--depth", "1"]) == 0
    assert capsys.readouterr().out == "wrote r18.html\n"
    text = (tmp_path / "r18.html").read_text(encoding="utf-8")
    assert '"name":"layer4.1","kind":"block"' in text


# ---------------------------------------------------------------------------- in Chromium
class Browser:
    """Headless Chromium driven through the DevTools protocol on fds 3 and 4
    (``--remote-debugging-pipe``: JSON messages separated by NUL bytes)."""

    def __init__(self, exe: str, width: int, height: int) -> None:
        self.profile = tempfile.mkdtemp(prefix="archdsl-chromium-")
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        cmd = (f'exec "{exe}" --headless=new --no-sandbox --disable-gpu --no-first-run '
               "--disable-extensions --disable-dev-shm-usage --remote-debugging-pipe "
               f'--user-data-dir="{self.profile}" --window-size={width},{height} '
               f"3<&{to_r} 4>&{from_w}")
        self.proc = subprocess.Popen(["bash", "-c", cmd], pass_fds=(to_r, from_w),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self.from_r], [], [], left)
            if ready:
                chunk = os.read(self.from_r, 1 << 20)
                if not chunk:
                    raise EOFError("Chromium closed the pipe")
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        result: dict[str, Any] = json.loads(message)
        return result

    def send(self, method: str, params: dict[str, Any] | None = None,
             timeout: float = 30) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self.to_w, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read(timeout)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            self.events.append(answer)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            self.events.append(self._read(deadline - time.monotonic()))

    def open(self, url: str, width: int, height: int) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def mouse(self, kind: str, x: float, y: float, **extra: Any) -> None:
        self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, **extra})

    def click(self, x: float, y: float) -> None:
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y, button="left", clickCount=1)
        self.mouse("mouseReleased", x, y, button="left", clickCount=1)

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError, EOFError):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.to_w, self.from_r):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


WIDTH, HEIGHT = 1280, 800


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Browser, Path]]:
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    if shutil.which("dot") is None:
        pytest.skip(NO_DOT)
    folder = tmp_path_factory.mktemp("html")
    html = render(archdsl.load(ROOT / "specs" / "resnet18.yaml"), folder / "resnet18.html")
    browser = Browser(CHROMIUM, WIDTH, HEIGHT)
    try:
        browser.open(html.as_uri(), WIDTH, HEIGHT)
        yield browser, folder
    finally:
        browser.close()


def box_center(b: Browser, node_id: str) -> tuple[float, float]:
    dom = b.js("(() => { const d = JSON.parse(document.getElementById('archdsl-data')"
               f".textContent); return d.boxes[d.index[{json.dumps(node_id)}]].dom; }})()")
    x, y = b.js(f"(() => {{ const r = document.getElementById('{dom}').getBoundingClientRect();"
                " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
    return x, y


def panel(b: Browser) -> str:
    text: str = b.js("document.getElementById('panel').innerText")
    return text


def keep(path: Path) -> None:
    folder = os.environ.get("ARCHDSL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)


def test_clicking_a_box_shows_the_node(page):
    b, folder = page
    assert b.js("document.body.getAttribute('data-ready')") == "1"
    x, y = box_center(b, "layer2.0.conv1")
    assert 0 < x < WIDTH - 340 and 0 < y < HEIGHT  # on the canvas, left of the panel
    b.click(x, y)
    text = panel(b)
    g = archdsl.load(ROOT / "specs" / "resnet18.yaml")
    node = g["layer2.0.conv1"]
    for want in ("layer2.0.conv1", "type\tconv2d", "summary\t3×3 /2, 128", "filters\t128",
                 "stride\t2", "input shapes\tlayer1.1.relu2: 64×56×56",
                 "output shape\t128×28×28", f"params\t{node.trainable:,} ({node.trainable:,} "
                 "trainable, 0 non-trainable)", f"MACs\t{node.macs:,}",
                 f"receptive field\t{node.rf}", "block\tlayer2.0 (basic)",
                 f"defined at\t{node.loc}"):
        assert want in text, (want, text)
    assert b.js("document.querySelectorAll('#canvas .node.selected').length") == 1
    assert b.js("location.hash") == "#node=layer2.0.conv1"
    shot = folder / "render_html_click.png"
    assert b.screenshot(shot).startswith(b"\x89PNG")
    keep(shot)


def test_search_finds_and_centres_a_node(page):
    b, folder = page
    x, y = b.js("(() => { const r = document.getElementById('search').getBoundingClientRect();"
                " return [r.x + 10, r.y + r.height / 2]; })()")
    b.click(x, y)
    b.send("Input.insertText", {"text": "layer4.1.bn2"})
    for kind in ("keyDown", "keyUp"):
        b.send("Input.dispatchKeyEvent", {"type": kind, "key": "Enter", "code": "Enter",
                                          "windowsVirtualKeyCode": 13, "text": "\r"})
    assert panel(b).startswith("layer4.1.bn2\nbatchnorm")
    cx, cy = box_center(b, "layer4.1.bn2")
    assert abs(cx - (WIDTH - 340) / 2) < 40 and abs(cy - HEIGHT / 2) < 60  # centred
    b.send("Input.insertText", {"text": "x"})  # "layer4.1.bn2x": no such node
    for kind in ("keyDown", "keyUp"):
        b.send("Input.dispatchKeyEvent", {"type": kind, "key": "Enter", "code": "Enter",
                                          "windowsVirtualKeyCode": 13, "text": "\r"})
    assert b.js("document.getElementById('status').textContent") == "no node 'layer4.1.bn2x'"
    shot = folder / "render_html_search.png"
    b.screenshot(shot)
    keep(shot)


def test_wheel_zooms_and_drag_pans(page):
    b, _ = page
    b.js("document.getElementById('zoom-fit').click()")

    def view() -> list[float]:
        return [float(v) for v in b.js(
            "document.querySelector('#canvas svg').getAttribute('viewBox')").split()]

    before = view()
    b.mouse("mouseWheel", 400, 400, deltaX=0, deltaY=-300)
    time.sleep(0.2)
    zoomed = view()
    assert zoomed[2] < before[2] * 0.8 and zoomed[3] < before[3] * 0.8  # zoomed in
    b.mouse("mousePressed", 400, 400, button="left", clickCount=1)
    b.mouse("mouseMoved", 300, 350, button="left", buttons=1)
    b.mouse("mouseReleased", 300, 350, button="left", clickCount=1)
    moved = view()
    assert moved[2:] == zoomed[2:] and moved[0] > zoomed[0] and moved[1] > zoomed[1]
