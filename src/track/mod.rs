//! Track aggregation: running mean embedding and boundary detection.
