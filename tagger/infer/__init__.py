"""Using a trained tagger: loading any kind, decoding pictures, captions and evaluation; imports core, data and train."""
