"""The serving application: ``POST /predict``, ``GET /metadata``, ``/health`` and ``/metrics``.

Plain Starlette routes with orjson, not FastAPI models: a single-row prediction must answer in well under a
millisecond, and request-model validation would cost more than onnxruntime does. Inputs are checked against
the model's signature; a bad payload is a 422 whose message names the column or shape at fault.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from assay.errors import AssayError, InvalidInput
from assay.serving import payload
from assay.serving.source import ModelSource
from assay.serving.stats import Stats

JSON = "application/json"
#: onnxruntime requests with at most this many rows are predicted on the event loop (tens of microseconds);
#: bigger ones, and native models, in a worker thread so the loop keeps answering.
INLINE_ROWS = 64


def _error(status: int, code: str, message: str) -> Response:
    return Response(orjson.dumps({"error": {"code": code, "message": message}}), status, media_type=JSON)


def create_serving_app(source: ModelSource) -> Starlette:
    """The app serving ``source``'s current model (``source.start()`` follows alias moves)."""
    stats = Stats()

    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        model = source.current  # one version for the whole request, even if the alias moves meanwhile
        try:
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError as exc:
                raise InvalidInput(f"the body is not JSON: {exc}") from None
            X = payload.parse(body, model.takes_frame)
            if model.runtime == "onnxruntime" and len(X) <= INLINE_ROWS:
                out = model.predictor.predict(X)  # microseconds: cheaper than a thread hop
            else:
                out = await run_in_threadpool(model.predictor.predict, X)
            answer = {
                "predictions": payload.jsonable(out),
                "model": model.version.name,
                "version": model.version.version,
            }
            response = Response(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), media_type=JSON)
            rows = len(X)
        except InvalidInput as exc:
            response, rows = _error(422, exc.code, exc.message), 0
        except AssayError as exc:
            response, rows = _error(500, exc.code, exc.message), 0
        stats.observe("/predict", response.status_code, time.perf_counter() - started, rows)
        return response

    async def metadata(request: Request) -> Response:
        stats.observe("/metadata", 200, 0.0)
        return Response(orjson.dumps(source.current.metadata(source.uri)), media_type=JSON)

    async def health(request: Request) -> Response:
        mv = source.current.version
        return Response(
            orjson.dumps({"status": "ok", "model": mv.name, "version": mv.version}), media_type=JSON
        )

    async def metrics(request: Request) -> Response:
        mv = source.current.version
        text = stats.render(mv.name, mv.version, source.reloads, source.reload_failures)
        return Response(text, media_type="text/plain; version=0.0.4")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        source.start()
        try:
            yield
        finally:
            source.stop()

    routes: list[Any] = [
        Route("/predict", predict, methods=["POST"]),
        Route("/invocations", predict, methods=["POST"]),  # MLflow's scoring path, for clients that use it
        Route("/metadata", metadata, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
