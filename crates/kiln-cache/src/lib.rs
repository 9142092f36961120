//! kiln-cache
