//! A document rendered once and served from memory, with its strong validator (RFC 9110 §8.8.3).

pub struct RenderedDocument {
    pub body: bytes::Bytes,
    pub etag: String,
}
