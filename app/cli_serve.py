"""`shadercam serve`: run the appliance (camera, GPU classifier, page and API) until stopped."""
from __future__ import annotations

import argparse
import logging
import signal
import sys

from app.config import ConfigError, load_config

# flag destination -> config key it overrides
FLAG_KEYS = {"source": "camera.source", "model": "model.path", "host": "server.host",
             "port": "server.port", "top_k": "model.top_k", "fps": "camera.fps",
             "smoothing": "model.smoothing", "threshold": "model.threshold"}


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve", help="run the camera classifier service with its web page",
        description="Classify camera frames on the GPU and serve the results: a live page at /, "
                    "JSON at /api/*, a websocket at /ws. Settings come from the config file, "
                    "then SHADERCAM_* environment variables, then these flags.")
    serve.add_argument("--config", metavar="FILE",
                       help="TOML config file (default: $SHADERCAM_CONFIG, else none)")
    serve.add_argument("--source", metavar="SOURCE",
                       help="picamera2, files:PATH (images folder, image or video) or demo")
    serve.add_argument("--model", metavar="PATH",
                       help="model file or installed model name (default: the store's default, "
                            "else the built-in demo model)")
    serve.add_argument("--host", help="address to listen on")
    serve.add_argument("--port", type=int, help="TCP port")
    serve.add_argument("--top-k", type=int, dest="top_k", help="classes per prediction")
    serve.add_argument("--fps", type=float, help="camera frames per second")
    serve.add_argument("--smoothing", type=int, help="average over this many frames (1 = off)")
    serve.add_argument("--threshold", type=float,
                       help="below this probability the result is 'uncertain' (0 = off)")
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, overrides={key: getattr(args, dest)
                                                     for dest, key in FLAG_KEYS.items()})
    except ConfigError as exc:
        print(f"shadercam serve: error: {exc}", file=sys.stderr)
        return 2
    from app.model_store import resolve_model_path

    model_path = resolve_model_path(config.model_path or None)
    if not model_path.is_file():
        print(f"shadercam serve: error: model.path (from {config.origins['model.path']}): "
              f"no model file at {model_path}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.server_log_level.upper(),
                        format="%(levelname)s %(name)s: %(message)s")

    import uvicorn

    from app.server import create_app
    from app.service import Service

    from app.limits import raise_fd_limit

    raise_fd_limit()  # every client is a file descriptor; take all the unit allows
    service = Service(config, model_path)
    # Newer uvicorn re-raises SIGTERM/SIGINT once it has shut down, which would kill us before
    # the camera is released; a Python handler in place turns that re-raise into a no-op.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    service.start()
    logging.getLogger("shadercam").info(
        "serving %s with model %s from %s on http://%s:%d/", config.camera_source,
        model_path.name, config.camera_source, config.server_host, config.server_port)
    try:
        uvicorn.run(create_app(service), host=config.server_host, port=config.server_port,
                    log_level=config.server_log_level, lifespan="off")
    finally:
        service.stop()
    return 0
