"""Staff pages (issue 11): to be filled."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
