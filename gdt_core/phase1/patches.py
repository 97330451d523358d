"""Objectness patches of phase 1 (section 3.2, "obj-general"), built shard by shard.

The paper samples "100k auxiliary image patches from the ImageNet 2014 detection dataset.
For each annotated bounding box, we randomly generate negative examples from the images in
such a way that they have low intersection of union with the annotated bounding box." Here:

* positives (label 1) = annotated boxes (``>= phase1.min_box_size`` px on both sides, not
  ``ignore``: VOC difficult, COCO crowd), each jittered by up to ``phase1.positive_jitter`` x
  its size in centre and size;
* negatives (label 0) = random boxes (side ``0.1-0.8 x sqrt(W*H)``, aspect ``1/2..2``) whose
  continuous IoU (:func:`gdt_core.boxes.box_iou`) with EVERY annotated box of the image is
  ``< phase1.negative_max_iou`` (``ignore`` boxes included: a crowd is not background);
* of those, ``phase1.framing_fraction`` (0 in the paper) are instead *framing negatives*: a
  usable annotated box shifted by up to half its size per axis and scaled by ``1/2..2``
  (aspect kept), with IoU in ``[framing_iou_min, framing_iou_max]`` with that object and at
  most ``framing_iou_max`` with every annotated box -- the object badly framed, looser or
  tighter, so that the network learns to prefer the well-framed box;
* both cropped and resized to ``network.input_size`` squared.

Determinism: :func:`plan_shards` shuffles the record list with ``seed`` and cuts it into
``num_shards`` contiguous shards with fixed quotas; :func:`build_shard` draws from
``numpy.random.default_rng([seed, shard])``. A shard's bytes therefore depend only on
(seed, shard, data, parameters), never on how many shards run at once. Inside a shard, record
``k`` of ``n`` receives ``ceil(remaining / (n - k))`` patches of each class, so a skipped or
exhausted record's quota moves to the next records and unused records are never decoded.

Shard file (``shard-00000.npz``, written without pickles and with fixed zip timestamps so
equal content gives equal bytes; ``numpy.load(..., allow_pickle=False)`` streams it):

``jpeg`` uint8 (all patches' JPEG bytes, concatenated, BGR as OpenCV writes them),
``offsets`` int64 (N+1; patch i = ``jpeg[offsets[i]:offsets[i+1]]``), ``labels`` uint8 (N),
``boxes`` float64 (N, 4; 0-based ``x, y, w, h`` in the source image), ``source`` int32 (N;
index into ``sources``), ``sources`` str (image paths). A JSON sidecar
(``shard-00000.json``, :func:`write_sidecar`, written last) holds the counts, skipped records
and a fingerprint of the inputs; :func:`finished_shard` uses it to skip finished shards on
re-runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gdt_core.boxes import box_iou
from gdt_core.config import Config
from gdt_core.data.det import DetEntry, DetRecord, DetRecordError, Skipped, read_record
from gdt_core.files import write_text_atomic

PATCH_FORMAT = "gdt-flow-patches/3"
LABEL_NAMES = ("background", "object")  # label 0, label 1
NEGATIVE_SIDE = (0.1, 0.8)  # negatives' side as a fraction of sqrt(W * H)
NEGATIVE_LOG_ASPECT = math.log(2.0)
NEGATIVE_BATCH = 64  # candidate boxes drawn per rejection round
NEGATIVE_ROUNDS = 20  # rounds before giving up on an image (quota moves on)
FRAMING_SHIFT = 0.5  # framing negatives: centre moved by up to this x the object's size
FRAMING_LOG_SCALE = math.log(2.0)  # ... and size x exp(U(-this, this)), aspect kept
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class PatchParams:
    """The config values a shard's content depends on."""

    input_size: int
    positive_jitter: float
    negative_max_iou: float
    min_box_size: int
    jpeg_quality: int
    framing_fraction: float = 0.0
    framing_iou: tuple[float, float] = (0.1, 0.5)

    @classmethod
    def from_config(cls, cfg: Config) -> PatchParams:
        p = cfg.phase1
        return cls(
            cfg.network.input_size,
            p.positive_jitter,
            p.negative_max_iou,
            p.min_box_size,
            p.jpeg_quality,
            p.framing_fraction,
            (p.framing_iou_min, p.framing_iou_max),
        )


@dataclass(frozen=True)
class ShardSpec:
    """One shard: its records (in order) and how many patches of each class it emits."""

    index: int
    seed: int
    entries: tuple[DetEntry, ...]
    num_positive: int
    num_negative: int

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}"

    def fingerprint(self, params: PatchParams) -> str:
        """Hash of everything the shard's bytes depend on (``PATCH_FORMAT`` included)."""
        spec = [self.index, self.seed, [e.key() for e in self.entries]]
        spec += [self.num_positive, self.num_negative]
        payload = json.dumps([PATCH_FORMAT, spec, asdict(params)], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def _split_evenly(total: int, parts: int) -> list[int]:
    q, r = divmod(total, parts)
    return [q + (i < r) for i in range(parts)]


def plan_shards(
    entries: list[DetEntry],
    num_patches: int,
    num_shards: int,
    positive_fraction: float,
    seed: int,
) -> list[ShardSpec]:
    """Shuffle ``entries`` with ``seed`` and cut them into shards with even quotas."""
    if not entries:
        raise ValueError("no detection records to build patches from")
    num_shards = min(num_shards, len(entries))
    order = np.random.default_rng(seed).permutation(len(entries))
    num_pos = round(num_patches * positive_fraction)
    pos = _split_evenly(num_pos, num_shards)
    neg = _split_evenly(num_patches - num_pos, num_shards)
    return [
        ShardSpec(i, seed, tuple(entries[j] for j in chunk), pos[i], neg[i])
        for i, chunk in enumerate(np.array_split(order, num_shards))
    ]


def jitter_boxes(
    rng: np.random.Generator, box: np.ndarray, count: int, jitter: float, w: int, h: int
) -> np.ndarray:
    """``count`` copies of ``box`` with centre and size moved by up to ``jitter`` x its size."""
    x, y, bw, bh = box
    u = rng.uniform(-jitter, jitter, size=(count, 4))
    cx, cy = x + bw / 2 + u[:, 0] * bw, y + bh / 2 + u[:, 1] * bh
    sw, sh = bw * (1 + u[:, 2]), bh * (1 + u[:, 3])
    x0, y0 = np.clip(cx - sw / 2, 0, w), np.clip(cy - sh / 2, 0, h)
    x1, y1 = np.clip(cx + sw / 2, 0, w), np.clip(cy + sh / 2, 0, h)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)


def max_iou(candidates: np.ndarray, annotated: np.ndarray) -> np.ndarray:
    """Each candidate's largest :func:`box_iou` with any annotated box (0 if there are none)."""
    best = np.zeros(len(candidates))
    for gt in annotated:
        best = np.maximum(best, box_iou(candidates, gt[None]))
    return best


def sample_background_boxes(
    rng: np.random.Generator,
    annotated: np.ndarray,
    w: int,
    h: int,
    count: int,
    iou_below: float,
    min_size: int,
) -> np.ndarray:
    """Up to ``count`` random boxes with IoU ``< iou_below`` against every annotated box."""
    found: list[np.ndarray] = []
    have = 0
    scale = math.sqrt(w * h)
    for _ in range(NEGATIVE_ROUNDS):
        if have >= count:
            break
        side = rng.uniform(*NEGATIVE_SIDE, NEGATIVE_BATCH) * scale
        aspect = np.exp(rng.uniform(-NEGATIVE_LOG_ASPECT, NEGATIVE_LOG_ASPECT, NEGATIVE_BATCH))
        bw = np.clip(side * np.sqrt(aspect), min(min_size, w), w)
        bh = np.clip(side / np.sqrt(aspect), min(min_size, h), h)
        x = rng.uniform(0, 1, NEGATIVE_BATCH) * (w - bw)
        y = rng.uniform(0, 1, NEGATIVE_BATCH) * (h - bh)
        cand = np.stack([x, y, bw, bh], axis=1)
        keep = cand[max_iou(cand, annotated) < iou_below]
        found.append(keep[: count - have])
        have += len(found[-1])
    return np.concatenate(found) if found else np.zeros((0, 4))


def sample_framing_boxes(
    rng: np.random.Generator,
    annotated: np.ndarray,
    usable: np.ndarray,
    w: int,
    h: int,
    count: int,
    iou: tuple[float, float],
    min_size: int,
) -> np.ndarray:
    """Up to ``count`` badly framed objects: boxes ``usable`` (indices into ``annotated``)
    shifted by up to ``FRAMING_SHIFT`` x their size per axis and scaled by ``exp(U(-log 2,
    log 2))``, clipped to the image, kept where the IoU with their object is in ``iou`` and
    with every annotated box at most ``iou[1]`` (so never another object's positive)."""
    found: list[np.ndarray] = []
    have = 0
    limits = np.array([w, h], dtype=np.float64)
    for _ in range(NEGATIVE_ROUNDS):
        if have >= count or not len(usable):
            break
        base = annotated[usable[rng.integers(len(usable), size=NEGATIVE_BATCH)]]
        shift = rng.uniform(-FRAMING_SHIFT, FRAMING_SHIFT, (NEGATIVE_BATCH, 2)) * base[:, 2:]
        scale = np.exp(rng.uniform(-FRAMING_LOG_SCALE, FRAMING_LOG_SCALE, NEGATIVE_BATCH))
        centre, size = base[:, :2] + base[:, 2:] / 2 + shift, base[:, 2:] * scale[:, None]
        lo = np.clip(centre - size / 2, 0, limits)
        hi = np.clip(centre + size / 2, 0, limits)
        cand = np.concatenate([lo, hi - lo], axis=1)
        own = box_iou(cand, base)
        keep = (cand[:, 2:] >= np.minimum(min_size, limits)).all(axis=1)
        keep &= (own >= iou[0]) & (max_iou(cand, annotated) <= iou[1])
        found.append(cand[keep][: count - have])
        have += len(found[-1])
    return np.concatenate(found) if found else np.zeros((0, 4))


def crop_patch(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """The pixels covering continuous ``box`` (outward-rounded), resized to ``size`` squared."""
    h, w = image.shape[:2]
    x0, y0 = int(math.floor(box[0])), int(math.floor(box[1]))
    x1, y1 = int(math.ceil(box[0] + box[2])), int(math.ceil(box[1] + box[3]))
    x0, y0 = min(max(x0, 0), w - 1), min(max(y0, 0), h - 1)
    x1, y1 = max(min(x1, w), x0 + 1), max(min(y1, h), y0 + 1)
    return cv2.resize(image[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_LINEAR)


def _load_image(record: DetRecord) -> np.ndarray:
    image = cv2.imread(record.image, cv2.IMREAD_COLOR)
    if image is None:
        raise DetRecordError(record.image, "unreadable image")
    if image.shape[:2] != (record.height, record.width):
        raise DetRecordError(
            record.annotation,
            "image size differs from xml",
            f"{image.shape[1]}x{image.shape[0]} vs {record.width}x{record.height}",
        )
    return image


@dataclass
class ShardResult:
    """What a finished shard holds (also its JSON sidecar)."""

    index: int
    file: str
    fingerprint: str
    num_positive: int
    num_negative: int
    num_framing: int  # of the negatives: badly framed objects
    positives_per_name: dict[str, int]
    positives_per_source: dict[str, int]
    negatives_per_source: dict[str, int]
    records_used: int
    skipped: list[dict[str, str]]
    sha256: str
    seconds: float = 0.0  # wall time of the task (set by the job)
    cpu_seconds: float = 0.0  # its process CPU time (set by the job)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``arrays`` as an uncompressed ``.npz`` without pickles or timestamps (equal content,
    equal bytes), written to a temporary name and renamed: never half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, arr in arrays.items():
            with zf.open(zipfile.ZipInfo(f"{key}.npy", _ZIP_TIME), "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(arr), allow_pickle=False)
    os.replace(tmp, path)


@dataclass(frozen=True)
class RecordBoxes:
    """One image's sampled boxes."""

    background: np.ndarray  # negatives away from every object
    framing: np.ndarray  # negatives framing an object badly
    positives: np.ndarray
    names: list[str]  # the positives' class names


def sample_record(
    rng: np.random.Generator,
    record: DetRecord,
    n_pos: int,
    n_neg: int,
    params: PatchParams,
) -> RecordBoxes:
    """One image's boxes.

    Positives cycle over the usable annotated boxes from a random first one; an image without
    usable boxes gives none (its quota moves to the next records). ``framing_fraction`` of
    the negatives are framing negatives where the image has usable boxes (what it cannot give
    is drawn as background).
    """
    w, h = record.width, record.height
    big = (record.boxes[:, 2:] >= params.min_box_size).all(axis=1)
    usable = np.flatnonzero(big & ~record.ignore)
    chosen = np.zeros(0, dtype=int)
    if len(usable):
        first = int(rng.integers(len(usable)))
        chosen = usable[(first + np.arange(n_pos)) % len(usable)]
    pos = [jitter_boxes(rng, record.boxes[b], 1, params.positive_jitter, w, h) for b in chosen]
    n_framing = round(n_neg * params.framing_fraction)
    framing = sample_framing_boxes(
        rng, record.boxes, usable, w, h, n_framing, params.framing_iou, params.min_box_size
    )
    background = sample_background_boxes(
        rng,
        record.boxes,
        w,
        h,
        n_neg - len(framing),
        params.negative_max_iou,
        params.min_box_size,
    )
    pos_boxes = np.concatenate(pos) if pos else np.zeros((0, 4))
    return RecordBoxes(background, framing, pos_boxes, [record.names[b] for b in chosen])


def build_shard(spec: ShardSpec, params: PatchParams, out_dir: str | Path) -> ShardResult:
    """Extract one shard's patches into ``<out_dir>/<name>.npz``; return its counts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([spec.seed, spec.index])
    blobs: list[bytes] = []
    labels: list[int] = []
    boxes: list[np.ndarray] = []
    source: list[int] = []
    sources: list[str] = []
    names: Counter[str] = Counter()
    per_source: list[Counter[str]] = [Counter(), Counter()]  # negatives, positives
    skipped: list[Skipped] = []
    num_framing = 0
    need = [spec.num_negative, spec.num_positive]
    encode = [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality]
    for k, entry in enumerate(spec.entries):
        n_neg, n_pos = (math.ceil(n / (len(spec.entries) - k)) for n in need)
        if n_neg == 0 and n_pos == 0:
            break
        try:
            record = read_record(entry)
            image = _load_image(record)
        except DetRecordError as exc:
            skipped.append(Skipped(exc.path, exc.reason))
            continue
        sampled = sample_record(rng, record, n_pos, n_neg, params)
        neg = np.concatenate([sampled.background, sampled.framing])
        pos = sampled.positives
        if not len(neg) and not len(pos):
            continue
        sources.append(record.image)
        names.update(sampled.names)
        num_framing += len(sampled.framing)
        per_source[0][entry.source] += len(neg)
        per_source[1][entry.source] += len(pos)
        for label, found in ((0, neg), (1, pos)):
            for box in found:
                ok, buf = cv2.imencode(".jpg", crop_patch(image, box, params.input_size), encode)
                if not ok:
                    raise RuntimeError(f"{record.image}: JPEG encoding of a patch failed")
                blobs.append(buf.tobytes())
                labels.append(label)
                boxes.append(box)
                source.append(len(sources) - 1)
            need[label] -= len(found)
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    path = out_dir / f"{spec.name}.npz"
    write_npz(
        path,
        {
            "jpeg": np.frombuffer(b"".join(blobs), dtype=np.uint8),
            "offsets": offsets,
            "labels": np.asarray(labels, dtype=np.uint8),
            "boxes": np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            "source": np.asarray(source, dtype=np.int32),
            "sources": np.asarray(sources, dtype=str),
        },
    )
    return ShardResult(
        index=spec.index,
        file=path.name,
        fingerprint=spec.fingerprint(params),
        num_positive=int(sum(labels)),
        num_negative=len(labels) - int(sum(labels)),
        num_framing=num_framing,
        positives_per_name=dict(sorted(names.items())),
        positives_per_source=dict(sorted(per_source[1].items())),
        negatives_per_source=dict(sorted(per_source[0].items())),
        records_used=len(sources),
        skipped=[asdict(s) for s in skipped],
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def write_sidecar(result: ShardResult, out_dir: str | Path) -> None:
    """Mark a shard finished (written after its ``.npz``, atomically)."""
    write_text_atomic(
        Path(out_dir) / f"shard-{result.index:05d}.json", json.dumps(asdict(result), indent=1)
    )


def finished_shard(spec: ShardSpec, params: PatchParams, out_dir: str | Path) -> ShardResult | None:
    """The sidecar of an already built, unchanged shard, or ``None`` if it must be (re)built."""
    sidecar = Path(out_dir) / f"{spec.name}.json"
    if not sidecar.is_file() or not (Path(out_dir) / f"{spec.name}.npz").is_file():
        return None
    try:
        result = ShardResult(**json.loads(sidecar.read_text()))
    except (ValueError, TypeError):
        return None
    return result if result.fingerprint == spec.fingerprint(params) else None


def _summed(results: list[ShardResult], field: str) -> dict[str, int]:
    total: Counter[str] = Counter()
    for r in results:
        total.update(getattr(r, field))
    return dict(sorted(total.items()))


def build_manifest(
    det_roots: list[str],
    specs: list[ShardSpec],
    results: list[ShardResult],
    params: PatchParams,
    seed: int,
    num_patches: int,
    config: dict[str, Any],
    listing_skipped: Sequence[Skipped] = (),
) -> dict[str, Any]:
    """The patch set's manifest: seeds, counts per class and per source, skipped records
    (the listing's and the shards'), config."""
    results = sorted(results, key=lambda r: r.index)
    skipped = [asdict(s) for s in listing_skipped] + [s for r in results for s in r.skipped]
    return {
        "format": PATCH_FORMAT,
        "det_roots": [str(r) for r in det_roots],
        "seed": seed,
        "num_patches_requested": num_patches,
        "num_shards": len(specs),
        "shard_seeds": [[s.seed, s.index] for s in specs],
        "counts": {
            "background": sum(r.num_negative for r in results),
            "object": sum(r.num_positive for r in results),
            "framing": sum(r.num_framing for r in results),  # of the background patches
        },
        "positives_per_name": _summed(results, "positives_per_name"),
        "positives_per_source": _summed(results, "positives_per_source"),
        "negatives_per_source": _summed(results, "negatives_per_source"),
        "records_listed": sum(len(s.entries) for s in specs) + len(listing_skipped),
        "records_used": sum(r.records_used for r in results),
        "skipped_count": len(skipped),
        "skipped_by_reason": dict(sorted(Counter(s["reason"] for s in skipped).items())),
        "skipped": skipped,
        "params": asdict(params),
        "config": config,
        "shards": [asdict(r) for r in results],
    }


@dataclass(frozen=True)
class PatchShard:
    """One loaded shard file."""

    jpeg: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    source: np.ndarray
    sources: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def encoded(self, i: int) -> bytes:
        return self.jpeg[self.offsets[i] : self.offsets[i + 1]].tobytes()

    def image(self, i: int) -> np.ndarray:
        """Patch ``i`` decoded to a BGR ``(S, S, 3)`` uint8 array (an OpenCV frame)."""
        return decode_patch(self.encoded(i))


SPLITS = ("train", "heldout", "all")


def split_mask(source: np.ndarray, sources: np.ndarray, split: str, fraction: float) -> np.ndarray:
    """Which of a shard's patches (``source`` indices into image paths ``sources``) are in
    ``split``: ``heldout`` = those whose image path hashes (CRC-32) below ``fraction`` of the
    range -- whole images, so no photograph gives patches to both splits, whatever the shard
    layout --, ``train`` the others, ``all`` every one."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "all":
        return np.ones(len(source), dtype=bool)
    cut = fraction * 2**32
    held = np.array([zlib.crc32(p.encode()) < cut for p in sources.tolist()], dtype=bool)
    held = held[source] if len(source) else np.zeros(0, dtype=bool)
    return held if split == "heldout" else ~held


def worker_mask(n: int, offset: int, rank: int, world: int) -> np.ndarray:
    """Worker ``rank`` of ``world`` keeps the patches whose global index (shard order, then
    position; this shard starts at ``offset``) is ``rank`` modulo ``world``."""
    return (offset + np.arange(n)) % world == rank


def decode_patch(data: bytes) -> np.ndarray:
    """JPEG bytes of a patch -> BGR uint8 array."""
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("corrupt patch JPEG in shard")
    return bgr


def load_shard(path: str | Path) -> PatchShard:
    """Read a shard file (no pickles); a clear error naming the file if it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return PatchShard(**{k: data[k] for k in PatchShard.__dataclass_fields__})
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a gdt-flow patch shard ({exc})") from None


MANIFEST = "manifest.json"  # in the patch directory, beside the shards


def build_patch_set(
    entries: list[DetEntry],
    out_dir: str | Path,
    cfg: Config,
    num_patches: int,
    num_shards: int,
    *,
    roots: Sequence[str | Path] = (),
    skipped: Sequence[Skipped] = (),
    map_shards: Callable[..., Iterable[ShardResult]] = map,
) -> dict[str, Any]:
    """A whole patch set in one go (no resuming: ``gdt-flow build-patches`` does that on
    Ray): ``entries`` cut into ``num_shards`` shards with ``cfg``'s sampling, each built by
    ``map_shards`` (``map``, or a process pool's), and its manifest written; the manifest."""
    params = PatchParams.from_config(cfg)
    p1 = cfg.phase1
    specs = plan_shards(entries, num_patches, num_shards, p1.positive_fraction, cfg.seed)
    results = list(map_shards(build_shard, specs, [params] * len(specs), [out_dir] * len(specs)))
    manifest = build_manifest(
        [str(r) for r in roots], specs, results, params, cfg.seed, num_patches, cfg.to_dict(),
        skipped,
    )  # fmt: skip
    write_manifest(out_dir, manifest)
    return manifest


def write_manifest(patch_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Write :func:`build_manifest`'s result as ``<patch_dir>/manifest.json``."""
    path = Path(patch_dir) / MANIFEST
    path.write_text(json.dumps(manifest, indent=1))
    return path


def read_manifest(patch_dir: str | Path) -> dict[str, Any]:
    """``<patch_dir>/manifest.json``; a clear error if absent or of another format."""
    path = Path(patch_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no patch manifest (run gdt-flow build-patches)") from None
    except ValueError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from None
    if manifest.get("format") != PATCH_FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, expected {PATCH_FORMAT}")
    return manifest
