"""A TraX server (the VOT toolkit's tracker protocol, package ``trax`` of ``vot-trax``) around
any :class:`~gdt_core.tracking.interface.Tracker`: rectangle regions, images given as paths.

The toolkit starts the server (``gdt-flow trax``), sends ``initialize`` with the first image and
box, then one ``frame`` per image, and reads back a box each time. stdout is the protocol
channel: everything else goes to stderr. Bad input (an image that cannot be read, a box
outside the image, a request that is not a single rectangle) ends the session with its reason
(``trax.Server`` turns the exception into a ``quit`` message), so the client reports it
instead of waiting for a box that never comes.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from gdt_core.tracking.interface import Tracker


class TraxInputError(ValueError):
    """A request the server cannot track from: its reason is sent to the client."""


def _image(request) -> np.ndarray:
    import trax

    channels = request.image or {}
    image = channels[trax.ImageChannel.COLOR] if trax.ImageChannel.COLOR in channels else None
    if image is None or image.type() != trax.Image.PATH:
        raise TraxInputError("expected a colour image given as a file path")
    path = image.path()
    frame = cv2.imread(path, cv2.IMREAD_COLOR)
    if frame is None:
        raise TraxInputError(f"cannot read image {path!r}")
    return frame


def _box(request, frame: np.ndarray) -> tuple[float, float, float, float]:
    import trax

    if not request.objects or len(request.objects) != 1:
        raise TraxInputError("expected exactly one object to track")
    region, _properties = request.objects[0]
    if region.type != trax.Region.RECTANGLE:
        raise TraxInputError(f"expected a rectangle region, got {region.type}")
    x, y, w, h = (float(v) for v in region.bounds())
    height, width = frame.shape[:2]
    if not (w > 0 and h > 0) or x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise TraxInputError(
            f"region (x, y, w, h) = {(x, y, w, h)} is not inside the {width}x{height} image"
        )
    return x, y, w, h


def serve(make_tracker: Callable[[], Tracker], name: str) -> None:
    """Answer the TraX client on stdin/stdout until it quits (or a request fails)."""
    import trax

    with trax.Server([trax.Region.RECTANGLE], [trax.Image.PATH], tracker_name=name) as server:
        tracker, started = make_tracker(), False
        while True:
            request = server.wait()
            if request.type == trax.TraxStatus.QUIT:
                break
            frame = _image(request)
            if request.type == trax.TraxStatus.INITIALIZE:
                box = _box(request, frame)
                tracker.init(frame, box)
                started = True
            elif not started:
                raise TraxInputError("a frame came before the initialize request")
            else:
                box, _score = tracker.update(frame)
            x, y, w, h = (float(v) for v in box)
            server.status([(trax.Rectangle.create(x, y, w, h), {})])
