//! Vocabulary: the GloVe store and the people-written tag list resolved against it.
