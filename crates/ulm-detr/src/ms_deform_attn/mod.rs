//! Multi-scale deformable attention (placeholder).
