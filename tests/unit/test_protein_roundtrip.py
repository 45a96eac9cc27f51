"""A v3 folder with Gene Expression + Antibody Capture rows keeps its protein counts and names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scanpy as sc

from scssl.io import read_h5ad, read_sample, write_h5ad


def test_antibody_capture_round_trip(sim_dir, tmp_path):
    folder = sim_dir / "sim_2" / "outs" / "filtered_feature_bc_matrix"
    ref = sc.read_10x_mtx(folder, gex_only=False)
    adt = ref.var["feature_types"] == "Antibody Capture"
    assert adt.sum() == 12
    a = read_sample(sim_dir / "sim_2" / "outs", sample="sim_2")
    assert a.n_vars == int((~adt).sum())  # genes only in X
    prot = a.obsm["protein_counts"]
    assert list(prot.columns) == list(ref.var_names[adt.to_numpy()])
    np.testing.assert_array_equal(prot.to_numpy(), ref[:, adt.to_numpy()].X.toarray())
    assert a.uns["protein_ids"] == list(ref.var["gene_ids"][adt])
    write_h5ad(a, tmp_path / "a.h5ad")
    b = read_h5ad(tmp_path / "a.h5ad")
    pd.testing.assert_frame_equal(b.obsm["protein_counts"], prot)
    assert b.X is b.layers["counts"]
    assert (b.X != a.X).nnz == 0
    # re-ingesting the .h5ad keeps the panel too
    c = read_sample(tmp_path / "a.h5ad", sample="again")
    np.testing.assert_array_equal(c.obsm["protein_counts"].to_numpy(), prot.to_numpy())
