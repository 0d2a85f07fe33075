//! sweeps (next)
