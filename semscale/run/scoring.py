"""Zero-shot scoring of cached embeddings at one scale level, for every registered aggregation.

Everything here is pure NumPy on already-computed embeddings, so any number of levels, orders and
aggregations cost no extra encoding. Images are processed in chunks of at most CHUNK_ROWS rows and
about CHUNK_CELLS cosines, which bounds memory and keeps the passes over each chunk in cache
(measured in benchmarks/b4_scale.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

from semscale.core.vectors import CLIP_HEAD, Head
from semscale.run import aggregations as rules

TOP_K = 3
CHUNK_ROWS = 2048
CHUNK_CELLS = 1 << 22  # images x candidates per chunk: 16 MB of cosines stay cache-friendly


@dataclass(frozen=True)
class Candidates:
    """The candidate labels at one level: rows of the name matrix and the class owning each.

    Rows must be grouped by class in class order (class 0's names first), which
    `Candidates.build` guarantees; every class has at least one name.
    """

    rows: np.ndarray  # (M,) indices into the name-embedding matrix
    owner: np.ndarray  # (M,) class index of each candidate

    @classmethod
    def build(cls, rows_per_class: list[list[int]]) -> "Candidates":
        rows = [r for class_rows in rows_per_class for r in class_rows]
        owner = [k for k, class_rows in enumerate(rows_per_class) for _ in class_rows]
        return cls(np.asarray(rows, dtype=np.int64), np.asarray(owner, dtype=np.int64))

    @cached_property
    def starts(self) -> np.ndarray:
        """First candidate position of each class (for reduceat)."""
        return np.flatnonzero(np.concatenate([[True], self.owner[1:] != self.owner[:-1]]))


@dataclass(frozen=True)
class Prediction:
    """Per-image outcome at one level: predicted class, its score and the top names overall."""

    predicted: np.ndarray  # (N,) class index
    score: np.ndarray  # (N,) aggregated score of the predicted class
    top_rows: np.ndarray  # (N, k) name-matrix rows of the best-matching candidate names
    top_sims: np.ndarray  # (N, k) their cosine similarities


def class_scores(images: np.ndarray, names: np.ndarray, cand: Candidates, aggregation: str,
                 head: Head = CLIP_HEAD) -> np.ndarray:
    """(N, K) class scores for unit-norm `images` (N, D) against unit-norm `names` (T, D), under the
    registered rule `aggregation` (semscale.run.aggregations; `head`: the model's, which probsum reads)."""
    return rules.get(aggregation).scores(images, names[cand.rows], cand.starts, head)


def _top_k(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Columns and values of the k largest entries per row, largest first, ties to the lower column.

    Exactly what `np.argsort(-sims, kind="stable")[:, :k]` selects, but in k passes of argmax
    instead of a full sort of every row (sorting 16,000 candidates costs ~200x one argmax pass).
    The fast path overwrites the picked entries of `sims` with -inf and returns True. A chunk
    holding NaN or -inf, where a picked entry could tie with the mask, is sorted the slow way
    instead, with `sims` left as it was, and False is returned.
    """
    rows = np.arange(len(sims))
    cols = np.empty((len(sims), k), np.int64)
    vals = np.empty((len(sims), k), sims.dtype)
    for j in range(k):
        cols[:, j] = sims.argmax(axis=1)  # first occurrence of the maximum, as a stable sort keeps
        vals[:, j] = sims[rows, cols[:, j]]
        if not (vals[:, j] > -np.inf).all():  # NaN (argmax returns the first NaN) or -inf
            for i in range(j):
                sims[rows, cols[:, i]] = vals[:, i]
            cols = np.argsort(-sims, axis=1, kind="stable")[:, :k]
            return cols, np.take_along_axis(sims, cols, axis=1), False
        sims[rows, cols[:, j]] = -np.inf
    return cols, vals, True


def predict_many(images: np.ndarray, names: np.ndarray, cand: Candidates,
                 aggregations: list[str] | tuple[str, ...], head: Head = CLIP_HEAD) -> dict[str, Prediction]:
    """`predict` for several aggregations at one level, computing the cosines and top names once.

    Each result equals `predict(images, names, cand, aggregation)`; the top names are the same
    for every aggregation, so all results share one `top_rows` and one `top_sims` array.
    """
    return predict_levels(images, names, [cand], aggregations, head)[0]


def predict_levels(images: np.ndarray, names: np.ndarray, levels: Sequence[Candidates],
                   aggregations: list[str] | tuple[str, ...], head: Head = CLIP_HEAD) -> list[dict[str, Prediction]]:
    """`predict_many` for each level in `levels`, from one cosine matrix per chunk of images (`Sweep`)."""
    return Sweep(names, levels).predict(images, aggregations, head)


class Sweep:
    """The levels of a sweep, laid out once to be scored together, batch after batch.

    A sweep's levels extend each other: a level gives each class its first n names of one order, so
    each level's class scores are the last level's plus its new names' (`_Chain`). The cosines to
    every name are computed once per chunk of images, with the names laid out position by position
    (every class's first name, then every second name, ...) so that each step's new names are a
    block of columns; max, cosine sums (mean) and probability sums (probsum) grow step by step, and
    a sweep costs one pass over its largest level. Levels that extend no other form chains of their own.
    Chains whose classes gain names at the same levels (the name orders of one run) walk together, as
    one array per aggregation, so many orders cost few NumPy calls; a level equal to an earlier one (every
    order's first) is scored once, and the two share their Predictions.

    The results are those of scoring each level alone (`class_scores`, `_top_k`) up to float32
    rounding: max scores and top names exactly so for the same cosines; mean is scored as the sum of
    a class's name cosines over the norm of the sum of its names (the cosine to their centroid), and
    probsum's softmax is shifted by the chunk's best cosine rather than the level's, so their scores
    can differ in the last bits (tests/test_speed_paths.py and benchmarks/b4_scale.py count the
    predictions that differ). A chunk holding NaN or inf, and rows whose level lies so far below the
    chunk's best name that the shifted softmax would underflow, are scored level by level.
    """

    def __init__(self, names: np.ndarray, levels: Sequence[Candidates]):
        self.names = names
        self.levels = list(levels)
        firsts: dict[tuple[bytes, bytes], int] = {}
        self.copy_of = [firsts.setdefault((c.rows.tobytes(), c.owner.tobytes()), i) for i, c in enumerate(self.levels)]
        self.chains = _Chain.partition(self.levels, sorted(firsts.values()))
        columns = list(dict.fromkeys(r for chain in self.chains for r in chain.rows))  # chain 0's order first
        where = {r: i for i, r in enumerate(columns)}
        for chain in self.chains:
            chain.place(where, names, self.levels)
        self.matrix = names[columns]
        self.ks = [min(TOP_K, len(cand.rows)) for cand in self.levels]

    def predict(self, images: np.ndarray, aggregations: list[str] | tuple[str, ...], head: Head = CLIP_HEAD,
                blocks: Sequence[slice] | None = None, top_names: bool = True) -> list[dict[str, Prediction]]:
        """Per level, the predicted class, its score and the top names of every image, per aggregation
        (without `top_names`, no top names: Prediction's top arrays have no columns).

        `blocks` (slices covering the rows in order; None: one block of every row) are the rows whose
        cosines come from one product, cut into chunks of at most `step` rows, as a run scores its
        batches: a float32 product's last bits depend on its rows. Everything after the product is
        computed row by row (a rule's plain re-scoring of rows too, within their own chunk), so the
        chunks of many blocks are walked together: the numbers are those of each block scored alone,
        and a run's levels cost one walk per `step` rows instead of one per block."""
        ks = self.ks if top_names else [0] * len(self.levels)
        step = max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(1, len(self.matrix))))
        units = [slice(a, min(a + step, stop)) for b in (blocks or [slice(0, len(images))])
                 for start, stop, _ in [b.indices(len(images))] for a in range(start, stop, step)]
        parts: list[dict[str, list]] = [{agg: [] for agg in aggregations} for _ in self.levels]
        tops: list[list] = [[] for _ in self.levels]
        for rows, every, starts in self._cosines(images, units, step):
            chunk = images[rows]
            if starts is None:  # NaN or inf: the plain rule, level by level
                for i in set(self.copy_of):
                    cand = self.levels[i]
                    scores, top = _score_alone(chunk, self.names[cand.rows], cand, ks[i], aggregations, head)
                    _gather([parts[i]], [tops[i]], {agg: s[:, None] for agg, s in scores.items()}, [top])
                continue
            every_t = np.ascontiguousarray(every.T)
            for chains in self._together(len(chunk)):
                for levels, scores, top in _Walk(chains, chunk, every_t, starts, self, aggregations, head).levels(ks):
                    _gather([parts[i] for i in levels], [tops[i] for i in levels], scores, top)
        scored = {i: _collect(parts[i], tops[i], ks[i], aggregations) for i in set(self.copy_of)}
        return [scored[i] for i in self.copy_of]

    def _together(self, n_rows: int):
        """The chains in runs that walk together: of one layout, at most CHUNK_CELLS cosines of `n_rows` rows.
        A chain whose columns begin the cosine matrix walks alone, on the whole matrix, whose best cosine
        shifts its softmax (the others': their own columns')."""
        runs: dict[tuple, list[_Chain]] = {}
        for chain in self.chains:
            runs.setdefault((id(chain.layout), id(chain) if chain.in_place else None), []).append(chain)
        for chains in runs.values():
            size = max(1, CHUNK_CELLS // max(1, n_rows * len(chains[0].rows)))
            for start in range(0, len(chains), size):
                yield chains[start : start + size]

    def _cosines(self, images: np.ndarray, units: list[slice], step: int):
        """(rows, cosines, first row of each unit within them) of consecutive `units` (slices of `images`
        in order) up to `step` rows, each unit's cosines from its own product; a unit holding NaN or inf
        comes alone, with None for its starts."""
        pending: list[np.ndarray] = []
        first = 0
        for unit in units:
            cos = images[unit] @ self.matrix.T
            finite = bool(np.isfinite(cos).all())
            if pending and (not finite or sum(map(len, pending)) + len(cos) > step):
                yield _joined(first, pending)
                pending = []
            if not finite:
                yield unit, cos, None
                continue
            if not pending:
                first = unit.start
            pending.append(cos)
        if pending:
            yield _joined(first, pending)


def _joined(first: int, cosines: list[np.ndarray]) -> tuple[slice, np.ndarray, np.ndarray]:
    """Consecutive units' cosines as one matrix, with the rows they cover and where each unit starts."""
    sizes = [len(c) for c in cosines]
    every = cosines[0] if len(cosines) == 1 else np.concatenate(cosines)
    return slice(first, first + sum(sizes)), every, np.cumsum([0, *sizes[:-1]])


def _gather(parts: list[dict[str, list]], tops: list[list], scores: dict[str, np.ndarray], top: list[tuple]) -> None:
    """Keep one chunk's predicted class and its score per aggregation, and its top names, for each of the
    levels whose parts and tops are given (`scores`: rows x those levels x classes, `top`: one per level)."""
    for agg, s in scores.items():
        predicted, best = _argmax(s)
        for g, level in enumerate(parts):
            level[agg].append((predicted[:, g], best[:, g]))
    for level, t in zip(tops, top, strict=True):
        level.append(t)


def _argmax(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scores.argmax(axis=-1), the first maximal class (or first NaN), and its score, in passes over whole
    classes: a walk's arrays hold each class's scores together, and NumPy's argmax would copy them to rows."""
    top = scores.max(axis=-1)
    if np.isnan(top).any():
        first = scores.argmax(axis=-1)
    else:
        first, missed = np.zeros_like(top, np.int64), np.ones_like(top, bool)
        for k in range(scores.shape[-1]):
            missed &= scores[..., k] != top
            first += missed  # the classes before the first maximal one
        if not (top == 0).any():  # equal floats other than zeros have equal bits
            return first, top
    return first, np.take_along_axis(scores, first[..., None], axis=-1)[..., 0]  # a 0.0 may be -0.0


def _score_alone(chunk: np.ndarray, cand_names: np.ndarray, cand: Candidates, k: int, aggregations,
                 head: Head) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """One level scored the plain way, from its own cosine matrix (`cand_names`: names[cand.rows]):
    class scores and top names."""
    sims = chunk @ cand_names.T
    scores = {agg: rules.get(agg).scores(chunk, cand_names, cand.starts, head, sims) for agg in aggregations}
    top, top_sims, _ = _top_k(sims, k)
    return scores, (cand.rows[top], top_sims)


class _Chain:
    """Levels each of which extends the one before: every class keeps its names and may gain more.

    `rows` are the names rows of the largest level, position by position: the first name of each
    class (in class order), then the second name of each class that has one, and so on. How a step
    from one level to the next adds names is its `_Layout`, shared by every chain whose classes have
    as many names at each level (a run's name orders).
    """

    def __init__(self, first: int):
        self.levels = [first]

    @classmethod
    def partition(cls, levels: Sequence[Candidates], which: Sequence[int]) -> list["_Chain"]:
        """Levels `which` (indices into `levels`) as chains, each level in the first chain it extends (smallest levels
        first): one whose last level gives each class (as many classes) a prefix of the level's names."""
        counts = [np.diff([*c.starts.tolist(), len(c.rows)]) for c in levels]  # each class's names
        n_classes = np.array([len(n) for n in counts])
        lengths = np.zeros((len(levels), n_classes.max(initial=0)), np.int64)
        # padded[i, k, j]: names row of class k's j-th name at level i, -1 past its names
        padded = np.full((*lengths.shape, max((int(n.max(initial=0)) for n in counts), default=0)), -1, np.int64)
        for i, (cand, n) in enumerate(zip(levels, counts, strict=True)):
            lengths[i, : len(n)] = n
            k = np.repeat(np.arange(len(n)), n)
            padded[i, k, np.arange(len(cand.rows)) - cand.starts[k]] = cand.rows
        chains: list[_Chain] = []
        tails: list[int] = []  # each chain's last level
        for i in sorted(which, key=lambda i: len(levels[i].rows)):
            t = np.array(tails, np.int64)
            fits = ((n_classes[t] == n_classes[i]) & (lengths[t] <= lengths[i]).all(axis=1)
                    & ((padded[t] == padded[i]) | (padded[t] < 0)).all(axis=(1, 2)))
            if fits.any():
                c = int(fits.argmax())
                chains[c].levels.append(i)
                tails[c] = i
            else:
                chains.append(cls(i))
                tails.append(i)
        layouts: dict[bytes, _Layout] = {}
        for chain in chains:
            k = n_classes[chain.levels[0]]
            chain._lay_out(lengths[chain.levels, :k], padded[chain.levels[-1], :k], layouts)
        return chains

    def _lay_out(self, lengths: np.ndarray, top: np.ndarray, layouts: dict[bytes, "_Layout"]) -> None:
        """`lengths`: each class's names per level (levels x K); `top`: the last level's rows (K x names)."""
        key = repr(lengths.shape).encode() + lengths.tobytes()
        if key not in layouts:
            layouts[key] = _Layout(lengths)
        self.layout = layouts[key]
        self.rows_at = top[:, : self.layout.column_at.shape[1]]  # names row of class c's j-th name, -1 past them
        self.rows = self.rows_at.T[self.rows_at.T >= 0].tolist()  # position by position: the layout's columns

    def place(self, where: dict[int, int], names: np.ndarray, levels: Sequence[Candidates]) -> None:
        """Where this chain's columns sit in the cosine matrix (`where`: names row -> column), and
        the norm of each class's summed names per level (mean's centroids)."""
        self.columns = np.array([where[r] for r in self.rows], np.int64)
        self.in_place = np.array_equal(self.columns, np.arange(len(self.columns)))
        self.norms = [rules.class_norms(names[levels[i].rows], levels[i].starts) for i in self.levels]

    def top(self, ev: np.ndarray, best: np.ndarray, level: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The level's k best names, ties to the earlier class and then the earlier name: they lie
        in the k classes with the best names (ties to the earlier class), so only those are searched."""
        n = len(ev)
        if k == 0:
            return np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32)
        lengths = self.layout.lengths[level]
        classes, _, _ = _top_k(best.copy(), min(k, len(lengths)))
        classes.sort(axis=1)  # class order, so column order below is the plain rule's candidate order
        width = int(lengths.max())
        cols = self.layout.column_at[classes, :width].reshape(n, -1)
        vals = np.take_along_axis(ev, cols, axis=1)
        vals[~(np.arange(width) < lengths[classes][..., None]).reshape(n, -1)] = -np.inf
        picked, top_sims, _ = _top_k(vals, k)
        return self.rows_at[classes, :width].reshape(n, -1)[np.arange(n)[:, None], picked], top_sims


class _Layout:
    """How a chain's classes gain names level by level, from how many names each has at each level."""

    def __init__(self, lengths: np.ndarray):
        self.lengths = lengths  # (levels, K)
        n_classes, width = lengths.shape[1], int(lengths.max())
        self.column_at = np.full((n_classes, width), 0, np.int64)  # column of class c's j-th name in the chain
        n = 0
        for j in range(width):
            has = np.flatnonzero(lengths[-1] > j)
            self.column_at[has, j] = np.arange(n, n + len(has))
            n += len(has)
        # steps[l]: (columns, classes) blocks that level l adds to level l-1; classes None = all, in order
        self.steps = []
        before, positions = np.zeros(n_classes, np.int64), np.arange(width)
        for now in lengths:
            blocks = []
            gained = (before[:, None] <= positions) & (now[:, None] > positions)  # class c gains its j-th name
            for j in np.flatnonzero(gained.any(axis=0)):
                gains = np.flatnonzero(gained[:, j])
                cols = self.column_at[gains, j]
                if cols[-1] - cols[0] == len(cols) - 1:  # consecutive columns: a view, not a copy
                    cols = slice(int(cols[0]), int(cols[-1]) + 1)
                blocks.append((cols, None if len(gains) == n_classes else gains))
            self.steps.append(blocks)
            before = now


class _Walk:
    """One chunk's walk of chains of one layout, as one: each rule's class totals (rows x chains x classes)
    grow block by block of new names, level after level. The arrays are laid out classes (names) first
    and rows last, and handed to the rules as rows x chains x classes views: every step is elementwise, or
    per row and chain, over long runs of memory, so each chain's numbers are those it has walked alone."""

    def __init__(self, chains: list[_Chain], chunk: np.ndarray, every_t: np.ndarray, starts: np.ndarray,
                 sweep: Sweep, aggregations, head: Head):
        """`every_t`: the chunk's cosines to the sweep's columns, columns x rows (`starts`: where each of the
        chunk's units begins, see `Sweep.predict`)."""
        self.chains, self.chunk, self.starts, self.sweep, self.head = chains, chunk, starts, sweep, head
        self.aggregations = aggregations
        if chains[0].in_place:  # alone: see Sweep._together
            self.ev = every_t[:, None].T
        else:
            self.ev = np.take(every_t, np.stack([c.columns for c in chains]).T, axis=0).T  # rows x chains x columns
        # max is always grown: the top names and the rules' underflow checks need each class's best cosine
        self.grown = {rules.MAX.name: rules.MAX} | {agg: rules.get(agg) for agg in aggregations}
        shape = (chains[0].layout.lengths.shape[1], len(chains), len(chunk))
        self.totals = {agg: np.full(shape, rule.empty, np.float32).T for agg, rule in self.grown.items()}
        self.shifts = {agg: rule.shift(self.ev, head) for agg, rule in self.grown.items()}
        self.suspect = set(aggregations)  # rules whose rows may still need the plain way (Aggregation.unreliable)

    def levels(self, ks: list[int]):
        """(level indices, class scores per aggregation, their ks[i] top names) for each level of the chains, in
        order. The score arrays grow on with the next level: use them before asking for it."""
        best = self.totals[rules.MAX.name]
        for level, blocks in enumerate(self.chains[0].layout.steps):
            for cols, classes in blocks:
                block = self.ev[..., cols]
                for agg, rule in self.grown.items():
                    _grow(self.totals[agg], rule.name_values(block, self.head, self.shifts[agg]), classes, rule.combine)
            levels = [c.levels[level] for c in self.chains]
            yield levels, {agg: self._scores(agg, level, best) for agg in self.aggregations}, [
                c.top(self.ev[:, g], best[:, g], level, ks[i]) for g, (c, i) in enumerate(zip(self.chains, levels,
                                                                                              strict=True))]

    def _scores(self, agg: str, level: int, best: np.ndarray) -> np.ndarray:
        """One rule's class scores at `level`, from its running totals (never written into); where the sweep's
        shortcut fails, rows re-scored the plain way."""
        rule, totals = self.grown[agg], self.totals[agg]
        scores = rule.normalise(rule.finish(totals, lambda: np.stack([c.norms[level] for c in self.chains])), self.head)
        if agg not in self.suspect:
            return scores
        redo = rule.unreliable(self.shifts[agg], best, self.head)
        if not redo.any():
            self.suspect.discard(agg)  # nor at the chains' later levels
            return scores
        if scores is totals:  # never write into a running total
            scores = scores.copy()
        for g in np.flatnonzero(redo.any(axis=0)):
            _rescore(scores[:, g], agg, self.chunk, np.flatnonzero(redo[:, g]), self.starts, self.sweep,
                     self.chains[g].levels[level], self.head)
        return scores


def _rescore(scores: np.ndarray, agg: str, chunk: np.ndarray, redo: np.ndarray, starts: np.ndarray,
             sweep: Sweep, i: int, head: Head) -> None:
    """Rows `redo` of level i's `scores` the plain way, each unit's rows from a product of their own
    (no top names: the walk's are kept)."""
    cand = sweep.levels[i]
    for rows in np.split(redo, np.searchsorted(redo, starts[1:])):
        if len(rows):
            alone, _ = _score_alone(chunk[rows], sweep.names[cand.rows], cand, 0, (agg,), head)
            scores[rows] = alone[agg]


def _grow(totals: np.ndarray, block: np.ndarray, classes: np.ndarray | None, op) -> None:
    """totals[..., classes] = op(totals[..., classes], block), in place when the block covers every class."""
    if classes is None:
        op(totals, block, out=totals)
    else:
        totals[..., classes] = op(totals[..., classes], block)


def _collect(parts: dict[str, list], tops: list, k: int, aggregations) -> dict[str, Prediction]:
    """One level's per-chunk results joined into a Prediction per aggregation."""
    if not tops:
        empty = np.zeros((0,), dtype=np.int64)
        return {agg: Prediction(empty, np.zeros(0, np.float32), np.zeros((0, k), np.int64),
                                np.zeros((0, k), np.float32)) for agg in aggregations}
    top_rows, top_sims = (np.concatenate(t) for t in zip(*tops, strict=True))
    return {agg: Prediction(np.concatenate([p[0] for p in parts[agg]]), np.concatenate([p[1] for p in parts[agg]]),
                            top_rows, top_sims) for agg in aggregations}


def predict(images: np.ndarray, names: np.ndarray, cand: Candidates, aggregation: str,
            head: Head = CLIP_HEAD) -> Prediction:
    """Predicted class per image (ties go to the earlier class) plus the top names by cosine."""
    return predict_many(images, names, cand, (aggregation,), head)[aggregation]
