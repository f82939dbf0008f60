"""Where news comes from besides article files: saved pages, links, feeds and dataset dumps."""
