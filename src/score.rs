//! Zero-shot scoring: cosine between a track embedding and each tag embedding.
