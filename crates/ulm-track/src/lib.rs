//! Microbubble tracking (linking) with predictors and filters.
