//! Offline tagging of whole files, the path behind `hark tag`.
