//! Remote write (in progress).
