"""How chosen tags become a caption, in the order of operations of kohya-ss sd-scripts'
tag_images_by_wd14_tagger.py (run_batch): each tag's spelling (--remove-underscore, then
--tag-replacement), undesired tags left out, character tags first, the rating first or last,
the always-first tags to the front, joined by the separator. Then what kohya lacks:
--prefix-tags before everything, and --escape-brackets.

Where kohya compares tags exactly, this compares them as a person means them
(`tag_key`): `long_hair` is `long hair`, and `\\(` is `(`.
"""
import re
from dataclasses import dataclass, field


def split_tags(text, separator=", "):
    """Tags in a caption or a flag's list, split at the separator without its spaces."""
    mark = separator.strip() or separator
    return [t.strip() for t in text.split(mark) if t.strip()]


def display_name(tag, remove_underscore):
    """A tag as written into a caption: kohya's --remove-underscore turns `long_hair` into
    `long hair` but leaves tags of three characters or fewer (emoticons such as `^_^`)."""
    return tag.replace("_", " ") if remove_underscore and len(tag) > 3 else tag


def tag_key(tag):
    """A tag as a person means it: surrounding spaces and a BOM aside, `_` the same as ` `,
    an escaped bracket `\\(` the same as `(`."""
    return (tag.strip().lstrip("\ufeff").strip().replace("_", " ")
            .replace("\\(", "(").replace("\\)", ")"))


def escape_brackets(tag):
    """`(` and `)` escaped for prompts (`\\(`), once: an escaped one stays as it is."""
    return re.sub(r"(?<!\\)([()])", r"\\\1", tag)


def parse_replacements(text):
    """((source, target), ...) of kohya's --tag-replacement `a,b;c,d`, where `\\,` and `\\;`
    stand for a comma and a semicolon inside a tag; ValueError (one line) for a pair that is
    not `source,target`."""
    pairs = []
    for item in text.replace("\\,", "\0").replace("\\;", "\1").split(";"):
        if not item.strip():
            continue
        parts = [p.replace("\0", ",").replace("\1", ";").strip() for p in item.split(",")]
        if len(parts) != 2 or not parts[0]:
            shown = item.replace("\0", "\\,").replace("\1", "\\;")
            raise ValueError(f"--tag-replacement {shown!r}: give source,target pairs separated "
                             f"by ';' (escape a comma or semicolon inside a tag as \\, or \\;)")
        pairs.append(tuple(parts))
    return tuple(pairs)


@dataclass
class CaptionStyle:
    """How chosen tags become a caption."""
    separator: str = ", "
    remove_underscore: bool = False
    undesired: frozenset = field(default_factory=frozenset)  # as typed, either spelling
    always_first: tuple = ()
    max_tags: int = 0  # 0 = no limit
    replacements: tuple = ()  # ((source, target), ...), sources compared by tag_key
    character_first: bool = False
    rating: str = None  # None, "first" or "last": the picture's most likely rating
    escape: bool = False  # --escape-brackets
    prefix: tuple = ()  # --prefix-tags: always first, predicted or not

    @classmethod
    def parse(cls, separator, remove_underscore, undesired, always_first, max_tags,
              replacements="", prefix="", **switches):
        """The style of tag.py's flags (lists of tags as typed, separated like captions;
        `switches`: character_first, rating, escape); ValueError for a bad replacement."""
        return cls(separator, remove_underscore, frozenset(split_tags(undesired, separator)),
                   tuple(split_tags(always_first, separator)), max_tags,
                   parse_replacements(replacements or ""), prefix=tuple(split_tags(prefix or "",
                                                                                   separator)),
                   **switches)

    def __post_init__(self):
        self._undesired = {tag_key(t) for t in self.undesired}
        self._replaced = {tag_key(s): t for s, t in self.replacements}

    def spelled(self, tag):
        """`tag` as the caption writes it: underscores, then replacement (kohya's order)."""
        name = display_name(tag, self.remove_underscore)
        return self._replaced.get(tag_key(name), name)

    def tags(self, chosen, ratings=None, categories=None):
        """Caption tags from [(tag, score)] most likely first, with the picture's `ratings`
        ({name: score}) and the tags' `categories` ({tag: category})."""
        shown = [(t, self.spelled(t)) for t, _ in chosen]
        shown = [(t, n) for t, n in shown if tag_key(n) not in self._undesired]
        if self.max_tags:
            shown = shown[:self.max_tags]
        if self.character_first and categories:
            shown.sort(key=lambda pair: categories.get(pair[0]) != "character")  # stable
        names = [n for _, n in shown]
        rating = self.rating_tag(ratings)
        if rating is not None:
            names = [rating, *names] if self.rating == "first" else [*names, rating]
        keys = {tag_key(n): n for n in names}
        first = [keys[k] for k in dict.fromkeys(tag_key(t) for t in self.always_first)
                 if k in keys]
        names = first + [n for n in names if n not in first]
        prefix = list(dict.fromkeys(self.prefix))
        taken = {tag_key(t) for t in prefix}
        names = prefix + [n for n in names if tag_key(n) not in taken]
        return [escape_brackets(n) for n in names] if self.escape else names

    def rating_tag(self, ratings):
        """The caption's rating tag: the most likely rating, unless undesired; None without
        --use-rating-tags or for a tagger that does not rate."""
        if not self.rating or not ratings:
            return None
        name = self.spelled(max(ratings, key=ratings.get))
        return None if tag_key(name) in self._undesired else name

    def text(self, tags):
        """The caption file's text."""
        return self.separator.join(tags) + "\n"
