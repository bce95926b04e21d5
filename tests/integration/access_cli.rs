//! (filled in by the access tests)
