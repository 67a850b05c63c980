"""The lowest layer: tags, images, files, locks, journals, progress, entry and flags; imports no other subpackage."""
