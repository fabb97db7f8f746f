"""The API browsers `/docs` (swagger-ui) and `/redoc` (redoc), served from this app's own
files: the npm packages `swagger-ui-dist` and `redoc`, copied to /static/vendor by
`make setup`. FastAPI's own versions load them from a CDN; these load nothing from another
host and run no inline script (swagger-ui is started by /static/docs/swagger-init.js, redoc
starts itself on its `<redoc>` element).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="/theme/logo.svg" type="image/svg+xml">
"""

SWAGGER_UI = (
    _HEAD
    + """<link rel="stylesheet" href="/static/vendor/swagger-ui.css">
</head>
<body>
<main><div id="swagger-ui" data-openapi-url="{openapi_url}"></div></main>
<script src="/static/vendor/swagger-ui-bundle.js"></script>
<script src="/static/docs/swagger-init.js"></script>
</body>
</html>
"""
)

REDOC = (
    _HEAD
    + """</head>
<body>
<redoc spec-url="{openapi_url}"></redoc>
<script src="/static/vendor/redoc.standalone.js"></script>
</body>
</html>
"""
)


def install(app: FastAPI) -> None:
    """Serve `/docs` and `/redoc` from local files (create the app with `docs_url=None,
    redoc_url=None`)."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        """swagger-ui over the OpenAPI document."""
        return HTMLResponse(SWAGGER_UI.format(title=f"{app.title} API", openapi_url=openapi_url))

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        """redoc over the OpenAPI document."""
        return HTMLResponse(REDOC.format(title=f"{app.title} API", openapi_url=openapi_url))
