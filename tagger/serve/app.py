"""The server's ASGI app (Starlette): the page, the webui tagger API, this project's own
endpoint, /healthz and the OpenAPI description."""
import asyncio
import base64
import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..infer.captions import CaptionStyle
from .batcher import Batcher, Batching
from .guards import BasicAuth, BodyLimit
from .models import Models, Refused, choice_for
from .pictures import drawn_png, from_base64, model_array

STATIC = Path(__file__).parent / "static"
WEBUI_THRESHOLD = 0.35  # the extension's default


@dataclass
class Serving:
    """What a server offers and how: its models, batching, body limit, timeout, auth."""
    models: Models
    batching: Batching = field(default_factory=Batching)
    max_body: int = 16 * 2**20  # bytes
    timeout: float = 30.0  # s, for a picture's place in a batch and its predict call
    auth: tuple = None  # (user, password)
    preload: bool = True  # open the taggers at start-up (--run), not on first use


class Tagging:
    """The models, one Batcher each, opened once; a request's pictures go through here."""

    def __init__(self, serving):
        self.serving, self.batchers = serving, {}
        self.lock = asyncio.Lock()

    async def tagger(self, name):
        """(name, tagger, batcher) for a model name a client sent."""
        models = self.serving.models
        name, _ = models.path_of(name)
        async with self.lock:
            if name not in self.batchers:
                _, tagger = await asyncio.to_thread(models.get, name)
                self.batchers[name] = Batcher(tagger, self.serving.batching)
        batcher = self.batchers[name]
        return name, batcher.tagger, batcher

    async def scores(self, name, data):
        """(name, tagger, tag scores, {rating: score}) of one picture's bytes."""
        name, tagger, batcher = await self.tagger(name)
        array = await asyncio.to_thread(model_array, data, tagger.image_size, tagger.fit)
        try:
            row, rated = await asyncio.wait_for(batcher.rated(array), self.serving.timeout)
        except asyncio.TimeoutError:
            raise Refused(504, f"the model did not answer within {self.serving.timeout:g} s"
                          ) from None
        ratings = {r: float(score) for r, score in zip(tagger.ratings, rated)}
        return name, tagger, row, ratings

    async def unload(self):
        """Close every opened model once the pictures it holds are answered; the number
        closed. The next request for one opens it again."""
        async with self.lock:
            batchers, self.batchers = self.batchers, {}
            self.serving.models.unload(list(batchers))
        for batcher in batchers.values():
            await batcher.drain(self.serving.timeout)
            await batcher.close()
        return len(batchers)

    async def close(self):
        for batcher in self.batchers.values():
            await batcher.close()


def threshold_of(value, default=None):
    """A threshold from a request (JSON number or form text), in [0, 1]; 422 otherwise."""
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Refused(422, "threshold: give a number from 0 to 1") from None
    if isinstance(value, bool) or not 0 <= number <= 1:
        raise Refused(422, "threshold: give a number from 0 to 1")
    return number


async def interrogators(request):
    """GET /tagger/v1/interrogators, as the webui tagger extension answers it."""
    return JSONResponse({"models": request.app.state.serving.models.names()})


async def interrogate(request):
    """POST /tagger/v1/interrogate: {"image", "model", "threshold"} -> {"caption": {tag:
    score}}: every rating of the model first (as the extension does; a run trained here has
    none), then the tags at or over the threshold, most likely first."""
    body = await json_body(request)
    threshold = threshold_of(body.get("threshold"), WEBUI_THRESHOLD)
    data = from_base64(body.get("image"))
    tagging = request.app.state.tagging
    _, tagger, row, ratings = await tagging.scores(body.get("model"), data)
    chosen = choice_for(tagger, threshold).pick(row, tagger)
    return JSONResponse({"caption": {**ratings, **{tag: score for tag, score in chosen}}})


async def unload_interrogators(request):
    """POST /tagger/v1/unload-interrogators: close the opened models, answered as the webui
    tagger extension answers it (a JSON string with the count)."""
    unloaded = await request.app.state.tagging.unload()
    return JSONResponse(f"Successfully unload {unloaded} model(s)")


async def json_body(request):
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested deep
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused(400, "the body must be a JSON object")
    return body


async def tag_upload(request):
    """POST /api/tag, multipart: `image` (a file), optional `model`, `threshold` (absent:
    the tuned thresholds) and `draw` (1: the picture drawn with its tags, as a data URL)."""
    async with request.form(max_files=1, max_fields=8) as form:
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise Refused(400, "image: send the picture as a file field named 'image'")
        data = await upload.read()
        threshold = threshold_of(form.get("threshold"))
        model, draw = form.get("model") or None, form.get("draw") in ("1", "true")
    name, tagger, row, ratings = await request.app.state.tagging.scores(model, data)
    chosen = choice_for(tagger, threshold).pick(row, tagger)
    answer = {"model": name, "tag_count": len(tagger.tags),
              "threshold": "tuned" if threshold is None else threshold,
              "tags": [[t, round(s, 5)] for t, s in chosen],
              "caption": CaptionStyle().text(CaptionStyle().tags(chosen)).rstrip("\n"),
              "scores": {t: round(float(s), 5) for t, s in zip(tagger.tags, row)},
              "ratings": {r: round(s, 5) for r, s in ratings.items()}}
    if draw:
        png = await asyncio.to_thread(drawn_png, data, chosen, tagger.image_size, tagger.fit)
        answer["drawn"] = "data:image/png;base64," + base64.b64encode(png).decode()
    return JSONResponse(answer)


async def models_info(request):
    """GET /api/models: each model's name, and for those opened its tag count."""
    tagging = request.app.state.tagging
    rows = []
    for name in request.app.state.serving.models.names():
        batcher = tagging.batchers.get(name)
        rows.append({"name": name, "tag_count": len(batcher.tagger.tags) if batcher else None,
                     "tuned": batcher.tagger.thresholds is not None if batcher else None})
    return JSONResponse({"models": rows})


async def healthz(request):
    """GET /healthz: up, the models offered, predict calls and pictures so far, and the
    pictures waiting for the model now."""
    batchers = request.app.state.tagging.batchers.values()
    return JSONResponse({"ok": True, "models": request.app.state.serving.models.names(),
                         "predict_calls": sum(b.calls for b in batchers),
                         "pictures": sum(b.pictures for b in batchers),
                         "waiting": sum(b.waiting for b in batchers)})


async def openapi(request):
    return FileResponse(STATIC / "openapi.json", media_type="application/json")


async def page(request):
    return FileResponse(STATIC / "index.html", media_type="text/html")


async def refused(request, exc):
    return JSONResponse({"detail": exc.reason}, exc.status, headers=exc.headers)


async def client_gone(request, exc):
    return JSONResponse({"detail": "the client went away"}, 400)  # BodyLimit answers 413


async def http_error(request, exc):
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


def make_app(serving):
    """The ASGI app for `serving`, wrapped in its body limit and (optional) basic auth."""
    @contextlib.asynccontextmanager
    async def lifespan(app):
        app.state.serving, app.state.tagging = serving, Tagging(serving)
        if serving.preload:
            for name in serving.models.names():
                await app.state.tagging.tagger(name)
        yield
        await app.state.tagging.close()

    routes = [Route("/", page), Route("/healthz", healthz), Route("/openapi.json", openapi),
              Route("/tagger/v1/interrogators", interrogators),
              Route("/tagger/v1/interrogate", interrogate, methods=["POST"]),
              Route("/tagger/v1/unload-interrogators", unload_interrogators, methods=["POST"]),
              Route("/api/tag", tag_upload, methods=["POST"]),
              Route("/api/models", models_info),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={Refused: refused, HTTPException: http_error,
                                        ClientDisconnect: client_gone})
    app = BodyLimit(app, serving.max_body)
    return BasicAuth(app, *serving.auth, open_paths=("/healthz",)) if serving.auth else app
