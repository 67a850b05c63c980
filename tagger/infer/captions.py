"""Captions in the conventions of the tools people caption training sets with (kohya-ss
sd-scripts' tag_images_by_wd14_tagger.py): a text file beside each picture, tags joined
by a separator. --append adds to a caption without changing a byte of what it held.
"""
import os
from dataclasses import dataclass

from ..core.progress import plural
from .kohya_order import CaptionStyle, display_name, split_tags, tag_key  # noqa: F401
from .pictures import IMAGE_SUFFIXES, not_picture_lines, plan_names, renamed_lines, with_suffix
from .writer import JOURNAL


def check_flags(ext, separator):
    """Refuse (ValueError, one line) a --caption-extension that is not a plain suffix, and an
    empty --separator."""
    if not separator:
        raise ValueError("--separator '': give the text between tags, such as ', '")
    separators = {"/", "\0", os.sep, os.altsep} - {None}
    if (not ext.startswith(".") or len(ext) < 2 or ext.lower() in IMAGE_SUFFIXES
            or any(s in ext for s in separators) or ext in ("..",)):
        raise ValueError(f"--caption-extension {ext!r}: give a suffix such as .txt or .caption "
                         f"(no path separators, not a picture suffix)")


BOM = b"\xef\xbb\xbf"


class CaptionSkipped(ValueError):
    """One picture's caption left as it is (its message names it and why); the run goes on."""


def appended(existing, tags, separator):
    """The caption bytes `existing` (UTF-8, a BOM kept) with the `tags` it lacks added after
    its last tag and before its trailing line breaks; None when it lacks none. The user's
    bytes stay exactly as written. UnicodeDecodeError for a caption that is not UTF-8."""
    bom = BOM if existing.startswith(BOM) else b""
    text = existing[len(bom):].decode("utf-8")
    have = {tag_key(t) for line in text.splitlines() for t in split_tags(line, separator)}
    new = []
    for tag in tags:
        if tag_key(tag) not in have:
            have.add(tag_key(tag))
            new.append(tag)
    if not new:
        return None
    body = text.rstrip()
    end = text[len(body):]
    added = separator.join(new)
    if body:
        return bom + (body + separator + added + end).encode("utf-8")
    return bom + (added + (end or "\n")).encode("utf-8")


def caption_bytes(path, tags, style, append):
    """What to write to a picture's caption `path`, or None when it stays as it is."""
    if append and path.is_file():
        try:
            return appended(path.read_bytes(), tags, style.separator)
        except UnicodeDecodeError:
            raise CaptionSkipped(f"{path}: left as it is, not UTF-8 text (--append adds to UTF-8 "
                                 f"captions only; convert it, or --overwrite)") from None
    return style.text(tags).encode("utf-8")


def write_caption(writer, path, tags, style, append, overwrite):
    """Write one picture's caption through `writer` (added to with `append`, replaced with
    `overwrite`, the old one backed up); False when it already held every tag."""
    if path.is_dir():
        raise CaptionSkipped(f"{path}: a folder is where this caption goes; left as it is "
                             f"(rename the folder, or pass another --caption-extension)")
    data = caption_bytes(path, tags, style, append)
    if data is None:
        return False
    try:
        writer.write_bytes(path, data, replace=append or overwrite)
    except FileExistsError as exc:
        raise CaptionSkipped(f"{path}: {exc.strerror}") from None
    return True


def frequency_table(counts, pictures, top):
    """Lines of the `top` most frequent caption tags with their count and share."""
    if not counts or not top:
        return []
    rows = counts.most_common(top)
    width = max(len(tag) for tag, _ in rows)
    lines = [f"{'tag':<{width}}  {'pictures':>8}  share"]
    lines += [f"{tag:<{width}}  {n:>8,}  {n / max(pictures, 1):6.1%}" for tag, n in rows]
    return lines


@dataclass
class CaptionPlan:
    """What tag.py will do: each picture's caption path, the pictures to caption, the ones to
    run through the model (to caption, or only for a missing --scores row), those skipped
    because they are captioned, and those named after their whole file name."""
    captions: dict
    to_caption: set
    todo: list
    skipped: list
    renamed: list


def plan_captions(paths, extension, append, overwrite, state=None, scores=None):
    """A CaptionPlan for `paths`, with a `scores` file of ScoresState `state` (None: new);
    ValueError when a caption would be the `scores` file itself."""
    scored = None if scores is None else set() if overwrite or state is None else state.done
    names, renamed = plan_names(paths, lambda p: p.parent)
    captions = {p: with_suffix(names[p], extension) for p in paths}
    same = scores and [p for p in paths if os.path.abspath(captions[p]) == os.path.abspath(scores)]
    if same:
        raise ValueError(f"--scores {scores} is the caption of {same[0]}: pass another name")
    to_caption = {p for p in paths if append or overwrite or captions[p].is_dir()
                  or not os.path.lexists(captions[p])}
    todo = [p for p in paths if p in to_caption or (scored is not None and str(p) not in scored)]
    return CaptionPlan(captions, to_caption, todo, [p for p in paths if p not in to_caption],
                       renamed)


def caption_folders(plan):
    """The folders tag.py writes captions into, and those a killed run left a journal in
    (each is locked while it runs, and its killed run's temporaries removed)."""
    folders = {c.parent for c in plan.captions.values()}
    return {f for f in folders if (f / JOURNAL).exists()} | {
        plan.captions[p].parent for p in plan.to_caption}


def caption_picture(writer, path, tags, style, append, overwrite):
    """write_caption; (whether the caption was written, the line saying why it was left as
    it is or None). With --append, a caption that already holds every tag is not written."""
    try:
        return write_caption(writer, path, tags, style, append, overwrite), None
    except CaptionSkipped as exc:
        return False, str(exc)


def caption_summary(plan, tagged, failed, extension, refused=(), others=(), unchanged=0):
    """tag.py's closing lines: what was written, skipped, refused, and renamed (`unchanged`:
    captions --append found nothing new for)."""
    lines = [f"{path}: skipped, not a readable picture ({error})" for path, error in failed]
    lines += list(refused) + not_picture_lines(list(others))
    lines += renamed_lines(plan.renamed, "captioned", lambda p: plan.captions[p].name)
    text = f"captioned {plural(tagged, 'picture')} ({extension} beside each)"
    if plan.skipped:  # never with --append or --overwrite, which caption every picture
        text += (f", already captioned {len(plan.skipped):,} (skipped; --overwrite or --append "
                 f"to redo)")
    if unchanged:
        text += f", {unchanged:,} already held every tag (left as they were)"
    if failed:
        text += f", unreadable {len(failed):,}"
    if refused:
        text += f", {len(refused):,} captions left as they are (see above)"
    if others:
        text += f", {len(others):,} files skipped as not pictures"
    if plan.renamed:
        text += (f", {len(plan.renamed):,} named after their whole file name because their "
                 f"stems clash (a trainer looking for <stem>{extension} will not find them: "
                 f"rename the pictures)")
    return lines + [text]


def record_summary(output_path, tagged, failed, others=()):
    """tag.py's closing lines with --output-path: what went into the one file."""
    lines = [f"{path}: skipped, not a readable picture ({error})" for path, error in failed]
    lines += not_picture_lines(list(others))
    text = f"wrote the captions of {plural(tagged, 'picture')} to {output_path}"
    if failed:
        text += f", unreadable {len(failed):,}"
    if others:
        text += f", {len(others):,} files skipped as not pictures"
    return lines + [text]
