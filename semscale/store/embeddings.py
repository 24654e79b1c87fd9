"""The embedding cache: one vector per (model, content hash) of an image or a prompt, kept in the results
file so no image or name is encoded twice for a model."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class EmbeddingCache:
    """ResultsStore's reads and writes of the embedding cache (each in a transaction of `_connect`)."""

    def get_embeddings(self, model_id: str, hashes: list[str], dim: int | None = None) -> dict[str, np.ndarray]:
        """The cached vectors of `hashes` that are usable: finite, of non-zero length and of size `dim`
        (None: the size most of them have). Anything else, e.g. NaN an older version took from a
        misbehaving server, is a miss, encoded again and replaced (`put_embeddings`)."""
        if not hashes:
            return {}
        wanted = pa.table({"hash": pa.array(list(set(hashes)), pa.string())})
        with self._connect() as con:
            con.register("wanted", wanted)
            table = con.sql("SELECT e.hash, e.vec FROM embeddings e JOIN wanted w ON e.hash = w.hash "
                            "WHERE e.model_id = ?", params=[model_id]).to_arrow_table()
        if table.num_rows == 0:
            return {}
        vecs = table.column("vec").combine_chunks()
        sizes = pc.fill_null(pc.list_value_length(vecs), 0).to_numpy(zero_copy_only=False)
        if dim is None:
            dim = int(np.bincount(sizes).argmax())
        keep = np.flatnonzero(sizes == dim)
        flat = pc.list_flatten(vecs.take(pa.array(keep))).to_numpy(zero_copy_only=False)
        matrix = flat.astype(np.float32).reshape(len(keep), dim)
        with np.errstate(over="ignore", invalid="ignore"):
            usable = np.isfinite(matrix).all(axis=1) & (np.linalg.norm(matrix, axis=1) > 0)
        names = table.column("hash").take(pa.array(keep)).to_pylist()
        return {h: v for h, v, ok in zip(names, matrix, usable, strict=True) if ok}

    def put_embeddings(self, model_id: str, items: dict[str, tuple[str, np.ndarray]]) -> None:
        with self._connect() as con:
            self._put_embeddings(con, model_id, items)

    @staticmethod
    def _put_embeddings(con, model_id: str, items: dict[str, tuple[str, np.ndarray]]) -> None:
        if not items:
            return
        hashes = list(items)
        matrix = np.stack([items[h][1] for h in hashes]).astype(np.float32)
        table = pa.table({
            "model_id": pa.array([model_id] * len(hashes)),
            "kind": pa.array([items[h][0] for h in hashes]),
            "hash": pa.array(hashes),
            "vec": pa.ListArray.from_arrays(np.arange(0, matrix.size + 1, matrix.shape[1], dtype=np.int32),
                                            pa.array(matrix.ravel())),
        })
        con.register("new_embeddings", table)
        con.execute("INSERT OR REPLACE INTO embeddings SELECT * FROM new_embeddings")  # an unusable one read as a miss
        con.unregister("new_embeddings")

    def count_embeddings(self, model_id: str | None = None) -> dict[str, int]:
        with self._connect() as con:
            rows = con.execute("SELECT kind, count(*) FROM embeddings WHERE ? IS NULL OR model_id = ? GROUP BY kind",
                               [model_id, model_id]).fetchall()
        return dict(rows)
