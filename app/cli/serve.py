"""`shadercam serve`: run the appliance (camera, GPU classifier, page and API) until stopped."""
from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys

from app.cli.errors import CliError
from app.config import ConfigError, default, load_config, unknown_env

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
    serve.add_argument("--host", help="address to listen on, 0.0.0.0 for every interface "
                                      f"(config default: {default('server.host')})")
    serve.add_argument("--port", type=int,
                       help=f"TCP port (config default: {default('server.port')})")
    serve.add_argument("--top-k", type=int, dest="top_k",
                       help=f"classes per prediction (config default: {default('model.top_k')})")
    serve.add_argument("--fps", type=float,
                       help=f"camera frames per second (config default: {default('camera.fps')})")
    serve.add_argument("--smoothing", type=int,
                       help="average over this many frames, 1 = off "
                            f"(config default: {default('model.smoothing')})")
    serve.add_argument("--threshold", type=float,
                       help="below this probability the result is 'uncertain', 0 = off "
                            f"(config default: {default('model.threshold')})")
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    for warning in unknown_env():
        print(f"shadercam serve: warning: {warning}", file=sys.stderr)
    try:
        config = load_config(args.config, overrides={key: getattr(args, dest)
                                                     for dest, key in FLAG_KEYS.items()})
    except ConfigError as exc:
        raise CliError(str(exc), status=2) from None
    from app.models.store import resolve_model_path

    model_path = resolve_model_path(config.model_path or None)
    if not model_path.is_file():
        raise CliError(f"model.path (from {config.origins['model.path']}): no model file at "
                       f"{model_path}", status=2)
    logging.basicConfig(level=config.server_log_level.upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    listener = _listen(config.server_host, config.server_port)

    import uvicorn

    from app.api import create_app
    from app.api.limits import raise_fd_limit
    from app.api.port import ServerSettings
    from app.runtime_settings import left_behind, state_dir
    from app.service import Service

    from app.api.connections import ConnectionGuard

    # every client is a file descriptor: take all the unit allows, and cap clients far below
    guard = ConnectionGuard.from_config(config, raise_fd_limit())
    state = state_dir(configured=config.service_state_dir)
    for warning in left_behind(state):
        logging.getLogger("shadercam").warning("%s", warning)
    service = Service(config, model_path, state)
    app = create_app(service, ServerSettings.from_config(config))
    server = uvicorn.Server(uvicorn.Config(app, log_level=config.server_log_level,
                                           lifespan="off", **guard.uvicorn_options()))

    def stop_soon(*_: object) -> None:
        """SIGTERM/SIGINT before uvicorn's own handlers are in place (start-up takes seconds
        on a Pi, and systemd may stop a unit while it starts): the server stops as soon as it
        has started. Newer uvicorn also re-raises the signal once it has shut down; this
        handler keeps that from killing us before the camera is released."""
        server.should_exit = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop_soon)
    service.start()
    host = f"[{config.server_host}]" if ":" in config.server_host else config.server_host
    logging.getLogger("shadercam").info(
        "serving %s with model %s on http://%s:%d/", config.camera_source, model_path.name,
        host, config.server_port)
    try:
        server.run(sockets=[listener])
    finally:
        service.stop()
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """Bind before anything starts, so a taken port is one clear error and "serving on" is
    only said once it is true."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (server.host, "
                       "server.port; is another shadercam already running?)") from None
    return listener
