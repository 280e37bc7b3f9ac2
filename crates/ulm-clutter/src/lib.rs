//! SVD clutter filtering and temporal band-pass.
