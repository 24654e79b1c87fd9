"""The paper's own method as a second path: one clip-as-service `/rank` per image and scale level.

For every image and level the image is the query and every active name is a text match; the
server scores and sorts the matches, and the class owning the top match is the prediction. The
server encodes the image once and every match text once per call, with no cache, so this path
costs (images x levels) image encodes and (images x sum of active prompts) text encodes, against
one encode per distinct image and name for the engine. With no or one prompt template it predicts
what the engine predicts with aggregation `max`; with several templates each (template, name)
pair is its own match (the engine averages a name's templates instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from semscale.data.images import DecodedImage
from semscale.models.encoders import ClipServerEncoder
from semscale.names.labels import LabelSet


@dataclass
class PaperRun:
    """Predicted class per image (in input order) for each level, and what it cost the server."""

    predictions: dict[int, list[str]] = field(default_factory=dict)
    top_names: dict[int, list[str]] = field(default_factory=dict)
    image_encodes: int = 0
    text_encodes: int = 0
    rank_calls: int = 0  # ranked queries: one per image and level
    requests: int = 0  # round trips to the server


def rank_predictions(client_url: str, images: list[DecodedImage], labels: LabelSet, levels: list[int],
                     templates: list[str] | tuple[str, ...] = (), token: str | None = None,
                     batch_size: int = 8, timeout: float = 60.0, retries: int = 3) -> PaperRun:
    """Predict every image at every level with `/rank` calls through `clip_client.Client.rank`."""
    from docarray import Document, DocumentArray

    server = ClipServerEncoder(client_url, token=token, batch_size=batch_size, timeout=timeout, retries=retries)
    owner = {name: cls for cls, names in labels.names.items() for name in names}
    out = PaperRun()
    for level in levels:
        prompts = [(name, t.format(name)) for names in labels.active(level).values() for name in names
                   for t in (templates or ["{}"])]
        queries = DocumentArray([
            Document(blob=im.data, mime_type="image",
                     matches=[Document(text=text, tags={"name": name}) for name, text in prompts])
            for im in images])
        ranked = server.rank(queries) if len(queries) else DocumentArray()
        names = [q.matches[0].tags["name"] for q in ranked]
        out.top_names[level] = names
        out.predictions[level] = [owner[n] for n in names]
        out.image_encodes += len(images)
        out.text_encodes += len(images) * len(prompts)
        out.rank_calls += len(images)
        out.requests += -(-len(images) // batch_size)
    return out
