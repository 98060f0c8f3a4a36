"""Gateway entry point: `micropython main.py [config.json]` (on a board, boot runs it)."""

import sys

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio

from gateway import config
from gateway.app import Gateway


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "config.json"
    try:
        cfg = config.load(path)
    except config.ConfigError as e:
        print("gateway: bad config: %s" % e)
        sys.exit(2)
    asyncio.run(Gateway(cfg).run())


main()
