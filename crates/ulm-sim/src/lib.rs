//! Synthetic ULM acquisitions with ground truth.
