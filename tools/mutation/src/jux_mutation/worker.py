"""One cosmic-ray HTTP worker bound to loopback (``jux-mutation --workers N`` starts N of them).

cosmic-ray's own ``cosmic-ray http-worker --port P`` listens on every interface; this one serves
the same handler (``cosmic_ray.distribution.http.handle_mutate_and_test``) on 127.0.0.1 only. The
worker mutates the modules under its working directory, so each one runs in its own copy of the
repository.

Usage: ``python -m jux_mutation.worker PORT``
"""

from __future__ import annotations

import sys

from aiohttp import web
from cosmic_ray.distribution.http import handle_mutate_and_test


def main(argv: list[str] | None = None) -> None:
    port = int((argv if argv is not None else sys.argv[1:])[0])
    app = web.Application()
    app.add_routes([web.post("/", handle_mutate_and_test)])
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
