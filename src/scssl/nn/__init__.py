"""Building blocks that never see AnnData: MLPs, corruptions, likelihoods, contrastive losses."""
