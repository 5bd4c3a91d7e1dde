"""The demo brand's identity, shared by the demo loader and the generator in ``tools/demo``."""

from __future__ import annotations

__all__ = ["BRAND_EMAIL", "BRAND_NAME", "BRAND_PHONE", "BRAND_TWITTER", "FB_PAGE"]

BRAND_NAME = "Parley Coffee"
BRAND_EMAIL = "support@parley-coffee.example.com"
BRAND_PHONE = "+447700900100"
BRAND_TWITTER = "ParleyCoffee"
FB_PAGE = "parleycoffee"
