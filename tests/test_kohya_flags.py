"""kohya's caption flags in tag.py: the order of operations of its run_batch, tag
replacement with its escaping, prefix tags, escaped brackets, --output-path in its two
formats, and its underscore spellings."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tag
from tagger.infer.kohya_order import CaptionStyle, escape_brackets, parse_replacements
from tagger.infer.tag_flags import choice_of, parse_args, style_of

CHOSEN = [("long_hair", .9), ("hatsune_miku", .8), ("1girl", .7), ("smile", .6),
          ("vocaloid", .5), ("^_^", .4)]
CATEGORIES = {"hatsune_miku": "character", "vocaloid": "copyright"}
RATINGS = {"general": 0.2, "sensitive": 0.7}


def style(*argv):
    return style_of(parse_args("", ["pics", *argv]))


def test_kohyas_order_replacement_then_undesired_character_first_rating_always_first():
    s = style("--remove-underscore", "--tag-replacement", "long hair,long_locks;smile,grin",
              "--undesired-tags", "grin", "--character-tags-first", "--use-rating-tags",
              "--always-first-tags", "1girl")
    # replaced after the underscores go; undesired compared with the replaced tag (kohya)
    assert s.tags(CHOSEN, RATINGS, CATEGORIES) == ["1girl", "sensitive", "hatsune miku",
                                                   "long_locks", "vocaloid", "^_^"]
    last = style("--use-rating-tags-as-last-tag")
    assert last.tags(CHOSEN, RATINGS, CATEGORIES)[-1] == "sensitive"
    assert last.tags(CHOSEN, {}, CATEGORIES) == [t for t, _ in CHOSEN]  # a tagger without ratings
    assert style("--use-rating-tags", "--undesired-tags", "sensitive").tags(
        CHOSEN, RATINGS)[0] == "long_hair"  # an undesired rating is left out, not replaced
    assert style("--character-tags-first").tags(CHOSEN, RATINGS, CATEGORIES)[0] == "hatsune_miku"


def test_undesired_and_always_first_match_either_spelling_and_escaped_brackets():
    chosen = [("hatsune_miku_(append)", .9), ("long_hair", .8), ("1girl", .7)]
    for written in ("hatsune miku (append)", "hatsune_miku_\\(append\\)", "hatsune_miku_(append)"):
        assert style("--undesired-tags", written).tags(chosen) == ["long_hair", "1girl"]
        assert style("--always-first-tags", f"1girl, {written}", "--remove-underscore").tags(
            chosen) == ["1girl", "hatsune miku (append)", "long hair"]


def test_prefix_tags_come_first_predicted_or_not_and_brackets_are_escaped_once():
    chosen = [("smile", .9), ("mychar_(series)", .8), ("1girl", .7)]
    s = style("--prefix-tags", "mychar (series), style", "--escape-brackets",
              "--always-first-tags", "1girl")
    assert s.tags(chosen) == ["mychar \\(series\\)", "style", "1girl", "smile"]
    assert s.text(s.tags([])) == "mychar \\(series\\), style\n"
    assert escape_brackets("a_\\(b\\)_(c)") == "a_\\(b\\)_\\(c\\)"


def test_tag_replacement_escapes_as_kohya_does():
    assert parse_replacements("aa\\,bb,AA\\,BB;cc\\;dd,CC\\;DD") == (("aa,bb", "AA,BB"),
                                                                       ("cc;dd", "CC;DD"))
    assert parse_replacements("a,b;") == (("a", "b"),)
    for bad in ("a", "a,b,c", ",b"):
        with pytest.raises(ValueError, match="source,target"):
            parse_replacements(bad)
    s = CaptionStyle.parse(", ", False, "", "", 0, "a\\,b,c")
    assert s.tags([("a,b", .9), ("d", .5)]) == ["c", "d"]


def test_bad_flag_combinations_stop_before_anything_is_written(tmp_path, capsys):
    for argv in (["--tag-replacement", "lonely"], ["--use-rating-tags",
                 "--use_rating_tags_as_last_tag"], ["--tuned", "--thresh", "0.3"],
                 ["--general-threshold", "-1"]):
        with pytest.raises(SystemExit) as refused:
            parse_args("", [str(tmp_path), *argv])
        assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "source,target" in err and "first or last" in err and "--tuned and --threshold" in err


def test_kohyas_underscore_spellings_are_the_same_flags():
    ours = parse_args("", [
        "pics", "--caption-extension", ".cap", "--separator", " | ", "--threshold", "0.3",
        "--general-threshold", "0.4", "--character-threshold", "0.8", "--copyright-threshold",
        "0.5", "--artist-threshold", "0.6", "--meta-threshold", "0.7", "--model-threshold", "0.9",
        "--undesired-tags", "a", "--remove-underscore", "--always-first-tags", "b", "--append",
        "--batch-size", "3", "--workers", "2", "--character-tags-first", "--use-rating-tags",
        "--tag-replacement", "c,d", "--output-path", "o.json"])
    kohya = parse_args("", [
        "pics", "--caption_extension", ".cap", "--caption_separator", " | ", "--thresh", "0.3",
        "--general_threshold", "0.4", "--character_threshold", "0.8", "--copyright_threshold",
        "0.5", "--artist_threshold", "0.6", "--meta_threshold", "0.7", "--model_threshold", "0.9",
        "--undesired_tags", "a", "--remove_underscore", "--always_first_tags", "b",
        "--append_tags", "--batch_size", "3", "--max_data_loader_n_workers", "2",
        "--character_tags_first", "--use_rating_tags", "--tag_replacement", "c,d",
        "--output_path", "o.json", "--onnx", "--recursive", "--force_download", "--debug",
        "--frequency_tags"])
    def shared(args):
        return {k: v for k, v in vars(args).items() if not k.startswith("kohya_")}

    assert shared(kohya) == shared(ours)
    assert choice_of(ours).by_category == (("general", 0.4), ("character", 0.8),
                                           ("copyright", 0.5), ("artist", 0.6), ("meta", 0.7),
                                           ("model", 0.9))
    assert parse_args("", ["p", "--caption_extention", ".x"]).caption_extension == ".x"
    assert parse_args("", ["p", "--use_rating_tags_as_last_tag"]).use_rating_tags_as_last_tag
    assert choice_of(parse_args("", ["p", "--general-mcut", "--character-mcut"])).mcut == \
        {"general", "character"}


def test_kohyas_model_dir_and_repo_id_name_the_run():
    assert parse_args("", ["p", "--model_dir", "models"]).run == \
        Path("models/SmilingWolf_wd-v1-4-convnext-tagger-v2")
    assert parse_args("", ["p", "--repo_id", "me/taggers/cl"]).run == \
        Path("wd14_tagger_model/me_taggers/cl")
    assert parse_args("", ["p"]).run == Path("runs/tagger")


@pytest.fixture
def pics(tmp_path):
    folder = tmp_path / "pics"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(3)
    for name, size in (("a.png", (40, 30)), ("sub/b.jpg", (24, 36))):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), np.uint8)).save(folder / name)
    return folder


def test_output_path_writes_kohyas_json_and_jsonl_instead_of_captions(trained, pics, tmp_path,
                                                                    capsys):
    _, run = trained
    out = tmp_path / "out" / "captions.json"
    (pics / "a.txt").write_text("mine\n")  # an existing caption does not skip the picture
    tag.main([str(pics), "--run", str(run), "--threshold", "0", "--output_path", str(out),
              "--quiet", "--max-tags", "2"])
    record = json.loads(out.read_text(encoding="utf-8"))
    assert set(record) == {str(pics / "a.png"), str(pics / "sub" / "b.jpg")}
    assert record[str(pics / "a.png")]["image_size"] == [40, 30]
    assert record[str(pics / "sub" / "b.jpg")] == {
        "tags": record[str(pics / "sub" / "b.jpg")]["tags"], "image_size": [24, 36]}
    assert len(record[str(pics / "a.png")]["tags"].split(", ")) == 2
    assert out.read_text().startswith('{\n    "')  # json.dump(indent=4), as kohya writes it
    assert (pics / "a.txt").read_text() == "mine\n" and not (pics / "sub" / "b.txt").exists()
    assert "wrote the captions of 2 pictures to" in capsys.readouterr().out
    lines = tmp_path / "c.jsonl"
    tag.main([str(pics / "sub"), "--run", str(run), "--threshold", "0", "--output-path",
              str(lines), "--quiet"])
    row = json.loads(lines.read_text())
    assert list(row) == ["image_path", "caption", "image_size"]
    assert row["image_path"] == str(pics / "sub" / "b.jpg") and row["image_size"] == [24, 36]


def test_output_path_is_replaced_only_with_overwrite_and_backed_up(trained, pics, tmp_path,
                                                                  capsys):
    _, run = trained
    out = tmp_path / "c.json"
    out.write_text("my notes\n")
    argv = [str(pics), "--run", str(run), "--threshold", "0.5", "--output-path", str(out),
            "--quiet"]
    with pytest.raises(SystemExit) as refused:
        tag.main(argv)
    err = capsys.readouterr().err
    assert refused.value.code == 2 and err.count("\n") == 1 and "--overwrite" in err
    assert out.read_text() == "my notes\n"
    tag.main([*argv, "--overwrite"])
    assert json.loads(out.read_text()) and \
        [p.read_text() for p in (tmp_path / ".tagger-backup").rglob("c.json")] == ["my notes\n"]
    with pytest.raises(SystemExit):
        tag.main([*argv[:-3], "--output-path", str(tmp_path / "c.txt")])
    assert ".json or .jsonl" in capsys.readouterr().err
