"""Ctrl-C in tag.py and draw.py with decoding workers, in a real (pseudo-)terminal: the one
`stopped` line and nothing else, no traceback from the script or its workers."""
import time

import pytest
from PIL import Image

from tagger.core.entry import STOPPED
from terminal import Terminal, last_line


@pytest.mark.parametrize("script", ["tag.py", "draw.py"])
def test_ctrl_c_prints_the_one_stopped_line(trained, tmp_path, script):
    _, run = trained
    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(400):
        Image.new("RGB", (900, 700), (i % 256, 40, 200)).save(pics / f"p{i:03}.png")
    with Terminal(script, pics, "--run", run, "--workers", "2", "--quiet", "--batch-size", "4",
                  *(["--out", tmp_path / "drawn"] if script == "draw.py" else [])) as term:
        deadline = time.monotonic() + 120
        done = lambda: len(list(pics.glob("*.txt"))) + len(list(tmp_path.rglob("*_tags.png")))
        while time.monotonic() < deadline and done() < 8:
            time.sleep(0.05)
        term.ctrl_c()
        rc = term.wait(20)
        out = term.output
    assert rc == 130, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert last_line(out) == STOPPED, out
    assert done() < 400, "the Ctrl-C should land mid-run"
