"""serve.py --runs-dir over exports (the `exported` fixture's ONNX and WD14 folders): each
offered by name, its tags those of tag.py --model on the same pictures and threshold."""
import base64
import shutil

import numpy as np
import pytest
import requests

from conftest import shape_image
from test_serve import Served

EXPORTS = ("onnx", "wd14_tuned")


@pytest.fixture(scope="module")
def export_server(exported, tmp_path_factory):
    _, root = exported
    runs = tmp_path_factory.mktemp("served_exports") / "runs"
    for name in EXPORTS:
        shutil.copytree(root / name, runs / name)
    served = Served("--runs-dir", str(runs))
    yield served, runs
    served.stop()


def test_exports_are_offered_and_tag_as_tag_py(export_server, tmp_path):
    import tag

    served, runs = export_server
    models = requests.get(served.url + "/tagger/v1/interrogators", timeout=30).json()
    assert models == {"models": sorted(EXPORTS)}
    rng = np.random.default_rng(9)
    for i, (colour, shape) in enumerate([("red", "square"), ("blue", "circle")]):
        (tmp_path / f"{i}.png").write_bytes(shape_image(rng, colour, shape, size=90))
    tagged = 0
    for name in EXPORTS:
        tag.main([str(tmp_path), "--model", str(runs / name), "--threshold", "0.3",
                  "--workers", "0", "--quiet", "--overwrite"])
        for picture in sorted(tmp_path.glob("*.png")):
            expected = [t for t in picture.with_suffix(".txt").read_text().strip().split(", ")
                        if t]
            body = {"image": base64.b64encode(picture.read_bytes()).decode(), "model": name,
                    "threshold": 0.3}
            reply = requests.post(served.url + "/tagger/v1/interrogate", json=body, timeout=60)
            assert reply.status_code == 200, reply.text
            assert list(reply.json()["caption"]) == expected, (name, picture.name)
            tagged += bool(expected)
    assert tagged  # some tags to compare, not only empty captions
