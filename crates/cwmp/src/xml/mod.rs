//! XML plumbing: the element index the decoders read and the writer the encoders fill.

pub(crate) mod fields;
pub(crate) mod tree;
pub(crate) mod writer;
