"""`models`: the registry's models, their sizes and licences, and which are cached."""

from __future__ import annotations

from semscale.app.cli import common


def register(sub) -> None:
    common.command(sub, "models", help="list the registry's models, their sizes and licences, and which are cached"
                   ).set_defaults(func=cmd_models)


def cmd_models(args) -> int:
    from semscale.models import registry

    print(registry.format_listing(registry.listing()))
    return 0
