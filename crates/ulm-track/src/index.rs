//! The fixed-radius candidate index the linker queries, chosen by
//! [`LinkConfig::index`](crate::LinkConfig::index).

use serde::{Deserialize, Serialize};

use crate::grid::GridHash;
use crate::kdtree::KdTree;

/// Which spatial index finds the candidates within the search range. Both return
/// exactly the points within the radius, so the links are identical; only speed differs
/// (the grid is faster on linking workloads; figures at [`LinkConfig::index`]).
///
/// [`LinkConfig::index`]: crate::LinkConfig::index
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpatialIndex {
    /// A uniform grid hash ([`GridHash`]): cells of side ≥ the search range.
    #[default]
    Grid,
    /// A static 2-D KD-tree ([`KdTree`]).
    KdTree,
}

/// One index of either kind, rebuilt over each frame's predicted positions.
#[derive(Debug, Clone)]
pub(crate) enum CandidateIndex {
    Grid(GridHash),
    KdTree(KdTree),
}

impl CandidateIndex {
    pub(crate) fn new(kind: SpatialIndex) -> Self {
        match kind {
            SpatialIndex::Grid => Self::Grid(GridHash::default()),
            SpatialIndex::KdTree => Self::KdTree(KdTree::default()),
        }
    }

    /// Rebuilds over `points` for queries of `radius`.
    pub(crate) fn rebuild(&mut self, points: &[[f64; 2]], radius: f64) {
        match self {
            Self::Grid(g) => g.rebuild(points, radius),
            Self::KdTree(t) => t.rebuild(points),
        }
    }

    /// Calls `f(index, squared_distance)` for every point within `radius` of `q`.
    #[inline]
    pub(crate) fn within(&self, q: [f64; 2], radius: f64, f: impl FnMut(usize, f64)) {
        match self {
            Self::Grid(g) => g.within(q, radius, f),
            Self::KdTree(t) => t.within(q, radius, f),
        }
    }
}
