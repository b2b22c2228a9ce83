//! Every byte read from a registry or a layout is checked against the
//! digest it was asked for before it counts.
//!
//! Manifests are small and read whole, so they are hashed as they arrive.
//! Blobs are streamed, so the stream checks itself: it hashes each chunk
//! and holds the last one back until the end proves the digest (and the
//! size) right. Whatever consumes it — an upload to another registry, a
//! file in a layout — therefore never receives the final bytes of content
//! that is wrong, and a registry that counts bytes cannot complete an
//! upload of it.

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::Digest as _;

use super::error::ContentMismatch;
use super::store::BlobStream;

/// `stream`, checked to hash to `digest` (and to be `size` bytes, when
/// known); a mismatch ends it with a [`ContentMismatch`] error instead of
/// its last chunk. `what` names the content for the message.
pub fn verified(stream: BlobStream, digest: &str, size: Option<u64>, what: String) -> BlobStream {
    struct State {
        inner: BlobStream,
        hasher: sha2::Sha256,
        expected: String,
        size: Option<u64>,
        seen: u64,
        held: Option<Bytes>,
        what: String,
        ended: bool,
    }
    let state = State {
        inner: stream,
        hasher: sha2::Sha256::new(),
        expected: digest.to_owned(),
        size,
        seen: 0,
        held: None,
        what,
        ended: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        if s.ended {
            return None;
        }
        loop {
            match s.inner.next().await {
                Some(Ok(chunk)) => {
                    s.seen += chunk.len() as u64;
                    if let Some(size) = s.size
                        && s.seen > size
                    {
                        s.ended = true;
                        let err = ContentMismatch(format!(
                            "{}: more than the {size} bytes its descriptor says: refused",
                            s.what
                        ));
                        return Some((Err(err.into_io()), s));
                    }
                    s.hasher.update(&chunk);
                    if let Some(previous) = s.held.replace(chunk) {
                        return Some((Ok(previous), s));
                    }
                }
                Some(Err(err)) => {
                    s.ended = true;
                    return Some((Err(err), s));
                }
                None => {
                    s.ended = true;
                    let actual = format!("sha256:{}", hex::encode(s.hasher.finalize_reset()));
                    if let Some(size) = s.size
                        && s.seen != size
                    {
                        let err = ContentMismatch(format!(
                            "{}: {} bytes arrived where its descriptor says {size}: refused",
                            s.what, s.seen
                        ));
                        return Some((Err(err.into_io()), s));
                    }
                    if actual != s.expected {
                        let err = ContentMismatch(mismatch_message(&s.what, &s.expected, &actual));
                        return Some((Err(err.into_io()), s));
                    }
                    return s.held.take().map(|last| (Ok(last), s));
                }
            }
        }
    }))
}

/// Checks content read whole against the digest it was asked for.
pub fn check(bytes: &[u8], expected: &str, what: &str) -> Result<(), ContentMismatch> {
    let actual = super::manifest::digest_of(bytes);
    if actual == expected {
        Ok(())
    } else {
        Err(ContentMismatch(mismatch_message(what, expected, &actual)))
    }
}

fn mismatch_message(what: &str, expected: &str, actual: &str) -> String {
    format!(
        "{what}: asked for {expected}, received content with digest {actual}; refused (a registry, mirror or layout serving other content than it names)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(chunks: &[&'static [u8]]) -> BlobStream {
        let items: Vec<Result<Bytes, std::io::Error>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Box::pin(futures_util::stream::iter(items))
    }

    async fn collect(stream: BlobStream) -> (Vec<u8>, Option<String>) {
        let mut out = Vec::new();
        let mut stream = stream;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => out.extend_from_slice(&chunk),
                Err(err) => return (out, Some(err.to_string())),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn right_content_passes_whole() {
        let digest = super::super::manifest::digest_of(b"hello world");
        let (bytes, err) = collect(verified(
            stream_of(&[b"hello ", b"world"]),
            &digest,
            Some(11),
            "blob".into(),
        ))
        .await;
        assert_eq!(bytes, b"hello world");
        assert_eq!(err, None);
    }

    #[tokio::test]
    async fn wrong_content_never_delivers_its_last_chunk() {
        let digest = super::super::manifest::digest_of(b"hello world");
        let (bytes, err) = collect(verified(
            stream_of(&[b"hello ", b"there"]),
            &digest,
            None,
            "blob".into(),
        ))
        .await;
        assert_eq!(bytes, b"hello ", "the last chunk is held back");
        assert!(err.unwrap().contains("received content with digest"));
    }

    #[tokio::test]
    async fn a_size_over_the_descriptor_stops_at_once() {
        let digest = super::super::manifest::digest_of(b"abc");
        let (bytes, err) = collect(verified(
            stream_of(&[b"ab", b"cdef", b"gh"]),
            &digest,
            Some(3),
            "blob".into(),
        ))
        .await;
        assert!(bytes.is_empty(), "the held chunk is never delivered");
        assert!(err.unwrap().contains("more than the 3 bytes"));
    }

    #[test]
    fn whole_content_is_checked() {
        let digest = super::super::manifest::digest_of(b"{}");
        assert!(check(b"{}", &digest, "m").is_ok());
        assert!(check(b"{ }", &digest, "m").is_err());
    }
}
