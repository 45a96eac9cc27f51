"""Names of the AnnData slots scssl writes, shared by every step."""

PROTEIN_KEY = "protein_counts"  # obsm: Antibody Capture counts, DataFrame named by antibody
PROTEIN_CLR_KEY = "protein_clr"  # obsm: per-cell CLR of the protein counts
COUNTS_LAYER = "counts"  # layers: raw UMI counts, kept through every step
