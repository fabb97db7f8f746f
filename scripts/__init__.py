"""The command line and operator tools: `cli` (the `heitje` entry point), deploy, audit,
verify, the local stack (`stack`) and `replay/` (scenario model, generator, HTTP client, demo).

A face over `domain`: may import every room below it, never `api` or `web` (it talks to the
API over HTTP).
"""
