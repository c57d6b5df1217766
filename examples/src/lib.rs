//! Examples live in `[[example]]` targets.
