//! (filled in by the serve tests)
