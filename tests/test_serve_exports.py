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
        tag.main([str(tmp_path), "--run", str(runs / name), "--threshold", "0.3",
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


def test_a_wd_layout_taggers_ratings_lead_the_webui_caption(exported, tmp_path):
    """A WD-layout folder with rating rows: /tagger/v1/interrogate puts every rating first,
    as the webui extension does, and /api/tag gives them apart; this project's own wd14
    export, whose rating columns are placeholders, offers none."""
    from wd_layout import wd_folder

    _, root = exported
    runs = tmp_path / "runs"
    wd_folder(root / "wd14", runs / "rated")
    shutil.copytree(root / "wd14", runs / "ours")
    served = Served("--runs-dir", str(runs))
    try:
        picture = shape_image(np.random.default_rng(4), "red", "circle", size=90)
        body = {"image": base64.b64encode(picture).decode(), "threshold": 0.3}
        rated = requests.post(served.url + "/tagger/v1/interrogate",
                              json={**body, "model": "rated"}, timeout=60).json()["caption"]
        assert list(rated)[:2] == ["general", "sensitive"]
        assert rated["general"] > rated["sensitive"]  # the red background's rating wins
        assert not {"general", "sensitive"} & set(list(rated)[2:])
        ours = requests.post(served.url + "/tagger/v1/interrogate",
                             json={**body, "model": "ours"}, timeout=60).json()["caption"]
        assert "general" not in ours and "red_background" in ours
        own = requests.post(served.url + "/api/tag", files={"image": ("p.png", picture)},
                            data={"model": "rated", "threshold": "0.3"}, timeout=60).json()
        assert set(own["ratings"]) == {"general", "sensitive"}
        assert not {"general", "sensitive"} & set(own["scores"])
    finally:
        served.stop()
