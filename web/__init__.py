"""The HTML face of Heitje: server-rendered page routes, templates, static files and
translations, over `domain` (never `api`)."""
