"""WD-layout taggers with categories and ratings, in both layouts kohya's script reads
(selected_tags.csv, and cl_tagger's model_optimized.onnx + tag_mapping.json), built from a
run's wd14 export; per-category thresholds and MCut."""
import io
import json

import numpy as np
import pytest
from PIL import Image

import draw
import tag
from conftest import shape_image
from tagger.infer.backends import open_tagger
from tagger.infer.categories import mcut_threshold
from tagger.infer.session import Choice, Decoding, TaggingSession
from wd_layout import ROWS, cl_folder, wd_folder


def pictures(folder, n=8):
    """Red and blue pictures with a circle or a square; returns {name: colour}."""
    rng = np.random.default_rng(5)
    folder.mkdir()
    colours = {}
    for i in range(n):
        colour = ("red", "blue")[i % 2]
        (folder / f"p{i}.png").write_bytes(
            shape_image(rng, colour, ("circle", "square")[i // 2 % 2], 48))
        colours[f"p{i}"] = colour
    return colours


@pytest.fixture(scope="module")
def layouts(exported, tmp_path_factory):
    """The same relabelled tagger as a WD14 folder and as a cl_tagger folder."""
    _, root = exported
    base = tmp_path_factory.mktemp("layouts")
    return wd_folder(root / "wd14", base / "wd"), cl_folder(root / "wd14", base / "cl")


def captions(folder, ext=".txt"):
    return {p.stem: p.read_text(encoding="utf-8").strip() for p in sorted(folder.glob(f"*{ext}"))}


def test_both_layouts_open_with_categories_and_ratings(layouts):
    wd, cl = (open_tagger(f) for f in layouts)
    assert (wd.layout, cl.layout) == ("wd14", "cl_tagger")
    for tagger in (wd, cl):
        assert tagger.tags == ["red_background", "blue_background", "circle", "square"]
        assert tagger.categories == ["general", "copyright", "character", "general"]
        assert tagger.ratings == ["general", "sensitive"] and tagger.image_size == 448
    rng = np.random.default_rng(1)
    batch = np.stack([np.asarray(Image.open(io.BytesIO(shape_image(rng, c, "circle", 448))))
                      for c in ("red", "blue")])
    (wd_tags, wd_ratings), (cl_tags, cl_ratings) = wd.predict_rated(batch), cl.predict_rated(batch)
    assert wd_ratings.shape == (2, 2) and np.abs(cl_tags - wd_tags).max() < 1e-4
    assert np.abs(cl_ratings - wd_ratings).max() < 1e-4
    assert np.array_equal(wd_ratings, wd_tags[:, :2])  # the ratings copy the two colours


def test_every_result_carries_its_ratings_and_a_run_has_none(layouts, exported, tmp_path):
    pictures(tmp_path / "pics", 4)
    paths = sorted((tmp_path / "pics").glob("*.png"))
    for source in (layouts[1], exported[0]):
        with TaggingSession(source, Choice(threshold=0.5), Decoding(workers=0)) as session:
            session.start(paths)
            results = list(session.results())
        assert len(results) == 4
        for r in results:
            assert r.ratings == ({"general": pytest.approx(float(r.scores[0])),
                                  "sensitive": pytest.approx(float(r.scores[1]))}
                                 if source == layouts[1] else {})


def test_both_layouts_write_the_same_captions_with_kohyas_flags(layouts, tmp_path, capsys):
    flags = ["--thresh", "0.3", "--character_threshold", "0.5", "--use_rating_tags",
             "--character_tags_first", "--remove_underscore", "--quiet"]
    out = {}
    for folder in layouts:
        pics = tmp_path / folder.name
        pictures(pics)
        tag.main([str(pics), "--run", str(folder), *flags, "--scores", str(tmp_path / "s.jsonl")])
        out[folder.name] = captions(pics)
    capsys.readouterr()
    assert out["wd"] == out["cl"]
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    for row in rows:
        text = out["cl"][row["image"].rsplit("/", 1)[-1][:-4]].split(", ")
        scores = row["scores"]
        assert text[0] == ("general" if scores["red_background"] >= scores["blue_background"]
                           else "sensitive")  # the most likely rating, first
        if "circle" in text:  # the character, right after the rating
            assert text[1] == "circle"
        assert "red background" in text or scores["red_background"] < 0.3
    draw.main([str(tmp_path / "cl"), "--run", str(layouts[1]), "--threshold", "0.3",
               "--out", str(tmp_path / "drawn"), "--quiet"])
    assert len(list((tmp_path / "drawn").glob("*_tags.png"))) == 8


def test_per_category_thresholds_over_the_default(layouts, tmp_path, capsys):
    pics = tmp_path / "pics"
    pictures(pics)
    run = ["--run", str(layouts[0]), "--overwrite", "--quiet"]
    tag.main([str(pics), *run, "--threshold", "0"])
    assert all(len(c.split(", ")) == 4 for c in captions(pics).values())  # every tag
    tag.main([str(pics), *run, "--threshold", "0", "--character-threshold", "1.5",
              "--copyright-threshold", "2"])  # above 1: the category is left out
    assert all(set(c.split(", ")) == {"red_background", "square"} for c in captions(pics).values())
    tag.main([str(pics), *run, "--general-threshold", "1.5"])  # the others by tuned thresholds
    tuned = captions(pics)
    assert not any({"red_background", "square"} & set(c.split(", ")) for c in tuned.values())
    assert any(tuned.values())
    capsys.readouterr()


def test_a_tagger_without_tuned_thresholds_needs_every_category_covered(exported, tmp_path,
                                                                        capsys):
    _, root = exported
    folder = wd_folder(root / "wd14", tmp_path / "public", thresholds=False)
    pics = tmp_path / "pics"
    pictures(pics, 2)
    with pytest.raises(SystemExit) as refused:
        tag.main([str(pics), "--run", str(folder), "--general-threshold", "0.35"])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and err.count("\n") == 1 and "no thresholds.csv" in err
    assert not list(pics.glob("*.txt"))
    result = tag.main([str(pics), "--run", str(folder), "--general-threshold", "0.35",
                       "--character-threshold", "0.85", "--copyright-threshold", "0.5",
                       "--quiet"])
    assert result["tagged"] == 2


@pytest.mark.parametrize("layout", ["wd", "cl"])
def test_a_tag_list_that_is_not_the_models_outputs_is_refused_in_one_line(exported, tmp_path,
                                                                          capsys, layout):
    _, root = exported
    build = wd_folder if layout == "wd" else cl_folder
    folder = build(root / "wd14", tmp_path / "t", rows=ROWS + [("extra", "0", 7)])
    name = "selected_tags.csv" if layout == "wd" else "tag_mapping.json"
    if layout == "wd":
        lines = (folder / name).read_text().splitlines()
        (folder / name).write_text("\n".join(lines[:-1]) + "\n")  # 6 rows for 7 outputs
    else:
        mapping = json.loads((folder / name).read_text())
        del mapping["6"]
        (folder / name).write_text(json.dumps(mapping))
    pics = tmp_path / "pics"
    pictures(pics, 2)
    with pytest.raises(SystemExit) as refused:
        tag.main([str(pics), "--run", str(folder), "--threshold", "0.3"])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and err.count("\n") == 1
    assert str(folder / name) in err and "6 rows" in err and "7 outputs" in err
    assert not list(pics.glob("*.txt"))


def test_unknown_categories_are_refused_in_one_line(exported, tmp_path, capsys):
    _, root = exported
    wd = wd_folder(root / "wd14", tmp_path / "wd", thresholds=False)
    text = (wd / "selected_tags.csv").read_text().replace(",red_background,0,", ",red_background,7,")
    (wd / "selected_tags.csv").write_text(text)
    cl = cl_folder(root / "wd14", tmp_path / "cl", thresholds=False)
    mapping = json.loads((cl / "tag_mapping.json").read_text())
    mapping["2"]["category"] = "Colour"
    (cl / "tag_mapping.json").write_text(json.dumps(mapping))
    pics = tmp_path / "pics"
    pictures(pics, 1)
    for folder, words in ((wd, ["line 4", "'7'"]), (cl, ["'Colour'", "Rating, General"])):
        with pytest.raises(SystemExit):
            tag.main([str(pics), "--run", str(folder), "--threshold", "0.3"])
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and all(w in err for w in words), err


def test_mcut_as_imgutils_computes_it():
    assert mcut_threshold(np.array([0.9, 0.85, 0.3, 0.2])) == pytest.approx(0.575)
    assert mcut_threshold(np.array([0.5])) is None

    class Tagger:
        tags = ["a", "b", "c", "x", "y"]
        categories = ["general", "general", "general", "character", "character"]
        thresholds = None

    choice = Choice(threshold=0.99, mcut=frozenset({"general", "character"}))
    scores = np.array([0.9, 0.8, 0.1, 0.12, 0.02])
    # general: the widest gap is 0.8 -> 0.1; character: MCut 0.07, raised to imgutils' 0.15
    assert [t for t, _ in choice.pick(scores, Tagger())] == ["a", "b"]
    scores[3] = 0.6
    assert [t for t, _ in choice.pick(scores, Tagger())] == ["a", "b", "x"]
