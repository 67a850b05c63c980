"""Tag folder names: safe on every OS, reversible, never shared."""
import re

import pytest

from tagger.core.tags import folder_to_tag, tag_to_folder

STRANGE = [":d", "^_^", "/\\/\\/\\", "..", ".", "?", "c:", "con", "CON", "Con", "nul.txt", "lpt1",
           "aux", "a/b", "a\\b", "<3", ">_<", "|", "*", '"', "100%", "%25", "~", "x.",
           "trailing ", " leading", "ümlaut", "日本語", "tab\there", "long_hair", "Long_Hair",
           "e" * 300, "é" * 300, "%~abc", "a" * 199 + "é"]


def test_names_are_valid_on_linux_macos_and_windows():
    for tag in STRANGE:
        name = tag_to_folder(tag)
        assert not re.search(r'[<>:"/\\|?*\x00-\x1f]', name), (tag, name)
        assert name not in (".", "..") and not name.endswith((".", " ")), (tag, name)
        assert name.split(".")[0].lower() not in {"con", "prn", "aux", "nul", "lpt1", "com1"}
        assert len(name.encode()) <= 255


def test_names_are_reversible_and_distinct_even_ignoring_case():
    names = [tag_to_folder(t) for t in STRANGE]
    assert len({n.lower() for n in names}) == len(STRANGE)
    for tag, name in zip(STRANGE, names):
        if "%~" not in name:  # only names over 200 bytes are shortened with a hash
            assert folder_to_tag(name) == tag


def test_common_tags_keep_their_names():
    assert tag_to_folder("long_hair") == "long_hair"
    assert tag_to_folder("hatsune_miku_(cosplay)") == "hatsune_miku_(cosplay)"


def test_empty_tag_is_refused():
    with pytest.raises(ValueError):
        tag_to_folder("")
