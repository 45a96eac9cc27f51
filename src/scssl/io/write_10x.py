"""Write a Cell Ranger v3 ``filtered_feature_bc_matrix``-style folder, byte-reproducibly."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .._atomic import atomic_path
from .._errors import InputError

MTX_HEADER = "%%MatrixMarket matrix coordinate integer general\n"
MTX_METADATA = '%metadata_json: {"software_version": "scssl-simulate", "format_version": 2}\n'
_CHUNK = 1_000_000  # matrix entries formatted per block of text
_GZIP_LEVEL = 1  # fast; the files are reproducible at any fixed level


def _write_gz(path: Path, blocks: Iterable[bytes]) -> None:
    """Gzip ``blocks`` into ``path`` with a fixed header (no file name, mtime 0)."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=_GZIP_LEVEL
        ) as gz,
    ):
        for block in blocks:
            gz.write(block)


def _mtx_blocks(X: sp.csr_matrix) -> Iterator[bytes]:
    """MatrixMarket text of ``X.T`` (features × cells), entries ordered by cell then feature."""
    n_cells, n_features = X.shape
    yield (MTX_HEADER + MTX_METADATA + f"{n_features} {n_cells} {X.nnz}\n").encode()
    cells = np.repeat(np.arange(1, n_cells + 1, dtype=np.int64), np.diff(X.indptr))
    for start in range(0, X.nnz, _CHUNK):
        stop = min(start + _CHUNK, X.nnz)
        block = np.column_stack(
            [X.indices[start:stop].astype(np.int64) + 1, cells[start:stop], X.data[start:stop]]
        )
        yield (("%d %d %d\n" * (stop - start)) % tuple(block.ravel().tolist())).encode()


def _lines(rows: Iterable[Sequence[str]]) -> Iterator[bytes]:
    yield "".join("\t".join(row) + "\n" for row in rows).encode()


def _as_counts(X: object, shape: tuple[int, int]) -> sp.csr_matrix:
    """Canonical integer CSR copy of ``X`` (sorted indices, no duplicates or stored zeros)."""
    M = sp.csr_matrix(X, copy=True)
    if M.shape != shape:
        raise InputError(
            f"write_10x_mtx: X has shape {M.shape}, but the barcodes and features give {shape} "
            "(cells × features)."
        )
    M.sum_duplicates()
    M.eliminate_zeros()
    data = M.data
    floats = data.size and not np.issubdtype(data.dtype, np.integer)
    if floats and (not np.all(np.isfinite(data)) or np.any(data != np.round(data))):
        raise InputError("write_10x_mtx: X must hold integer counts (found non-integer values).")
    M.data = data.astype(np.int64)
    M.sort_indices()
    return M


def write_10x_mtx(
    folder: str | os.PathLike,
    X: object,
    barcodes: Sequence[str],
    feature_ids: Sequence[str],
    feature_names: Sequence[str],
    feature_types: Sequence[str],
) -> Path:
    """Write ``matrix.mtx.gz``, ``features.tsv.gz`` and ``barcodes.tsv.gz`` into ``folder``.

    Parameters
    ----------
    folder
        Target folder; it is written beside itself and renamed into place (replacing it).
    X
        Cells × features integer counts (any scipy sparse or dense array).
    barcodes, feature_ids, feature_names, feature_types
        One string per cell and per feature; ``feature_types`` as in Cell Ranger
        (``Gene Expression``, ``Antibody Capture``).

    Returns
    -------
    Path
        ``folder``. The same inputs always give byte-identical files.
    """
    n_features = len(feature_ids)
    if not len(feature_names) == len(feature_types) == n_features:
        raise InputError(
            f"write_10x_mtx: feature_ids, feature_names and feature_types differ in length "
            f"({n_features}, {len(feature_names)}, {len(feature_types)})."
        )
    M = _as_counts(X, (len(barcodes), n_features))
    columns = [list(map(str, feature_ids)), list(map(str, feature_names)), list(feature_types)]
    for text in (*columns, list(map(str, barcodes))):
        if any(("\t" in s) or ("\n" in s) for s in text):
            raise InputError(
                "write_10x_mtx: feature and barcode strings must not hold tabs/newlines."
            )
    folder = Path(folder)
    with atomic_path(folder, is_dir=True) as tmp:
        tmp.chmod(0o755)
        _write_gz(tmp / "matrix.mtx.gz", _mtx_blocks(M))
        _write_gz(tmp / "features.tsv.gz", _lines(zip(*columns, strict=True)))
        _write_gz(tmp / "barcodes.tsv.gz", _lines((str(b),) for b in barcodes))
    return folder
