"""The one tagging session (tagger/infer/session.py) over every kind of tagger: a Keras run, its
ONNX, WD14 and LiteRT exports, and a WD14 folder with no tuned thresholds."""
import shutil

import numpy as np
import pytest

from conftest import SHAPE_TAGS, shape_image
from tagger.infer import session as session_module
from tagger.infer.litert_run import LiteRtRun
from tagger.infer.onnx_run import OnnxRun
from tagger.infer.session import Choice, Decoding, TaggerError, TaggingSession


@pytest.fixture
def pictures(tmp_path):
    rng = np.random.default_rng(5)
    paths = []
    for i in range(7):
        path = tmp_path / f"p{i}.png"
        path.write_bytes(shape_image(rng, ("red", "blue")[i % 2], ("circle", "square")[i % 3 > 0],
                                     36 + 3 * i))
        paths.append(path)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    return paths[:3] + [broken] + paths[3:]


def tag_all(source, paths, choice=Choice(), workers=0, batch_size=3):
    with TaggingSession(source, choice, Decoding(workers, batch_size)) as session:
        session.start(paths)
        tagger = session.load()
        return tagger, list(session.results())


KINDS = {"keras": "run", "onnx": "onnx", "wd14": "wd14_default", "litert": "litert"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_tagger_yields_every_picture_in_order(kind, exported, pictures):
    run, root = exported
    source = run if kind == "keras" else root / KINDS[kind]
    tagger, results = tag_all(source, pictures)
    assert {"onnx": OnnxRun, "wd14": OnnxRun, "litert": LiteRtRun}.get(kind, type(tagger)) \
        == type(tagger)
    assert [r.path for r in results] == pictures
    broken = results[3]
    assert broken.scores is None and broken.chosen is None and "Unidentified" in broken.error
    for result in results[:3] + results[4:]:
        assert result.error is None and result.scores.shape == (len(SHAPE_TAGS),)
        chosen = dict(result.chosen)  # the tuned thresholds: the default choice
        assert chosen == {t: pytest.approx(float(s)) for t, s, limit in
                          zip(tagger.tags, result.scores, tagger.thresholds) if s >= limit}


def test_exports_score_as_their_run(exported, pictures):
    run, root = exported
    scores = {}
    for kind, name in KINDS.items():
        _, results = tag_all(run if kind == "keras" else root / name, pictures, workers=1)
        scores[kind] = np.stack([r.scores for r in results if r.error is None])
    for kind in ("onnx", "litert"):
        assert np.abs(scores[kind] - scores["keras"]).max() < 1e-4
    assert np.abs(scores["wd14"] - scores["keras"]).max() < 0.05  # through 448 px and back


def test_one_threshold_and_top_k_choices(exported, pictures):
    run, _ = exported
    _, by_threshold = tag_all(run, pictures, Choice(threshold=0.5))
    _, by_rank = tag_all(run, pictures, Choice(threshold=0, max_tags=2))
    for a, b in zip(by_threshold, by_rank):
        if a.error is None:
            assert all(score >= 0.5 for _, score in a.chosen)
            assert len(b.chosen) == 2 and b.chosen[0][1] >= b.chosen[1][1]


def test_a_tagger_without_tuned_thresholds_refuses_only_the_tuned_choice(exported, tmp_path,
                                                                         pictures):
    _, root = exported
    public = tmp_path / "public"
    public.mkdir()
    for name in ("model.onnx", "selected_tags.csv"):
        shutil.copyfile(root / "wd14" / name, public / name)
    with pytest.raises(TaggerError, match="no thresholds.csv.*--threshold"):
        tag_all(public, pictures)
    tagger, results = tag_all(public, pictures, Choice(threshold=0.35))
    assert tagger.thresholds is None and len(results) == len(pictures)


def test_decoding_restarts_when_the_loaded_model_wants_another_size(exported, pictures,
                                                                    monkeypatch):
    run, _ = exported
    _, expected = tag_all(run, pictures)
    monkeypatch.setattr(session_module, "peek_input", lambda path: (17, "stretch"))
    _, results = tag_all(run, pictures)
    for a, b in zip(results, expected):
        assert (a.scores is None) == (b.scores is None)
        if a.scores is not None:
            assert np.abs(a.scores - b.scores).max() < 1e-5


def test_an_unopenable_tagger_is_one_line(tmp_path, pictures):
    with pytest.raises(TaggerError, match="model.keras not found"):
        tag_all(tmp_path / "nothing", pictures)
