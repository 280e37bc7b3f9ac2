//! Super-resolved density, velocity and direction maps.
