"""What an analysis bundle holds and what is computed from a model's encodings: the bundle itself, the fitted
density, kinds, dimension scores, prior checks, typicality, the scorecard and its attribute classifier, the
comparison of two checkpoints, the map's faces, directions of one's own and the training curves. No Streamlit."""
