//! Connections: every stream [`serve`](super::serve) accepts is wrapped in a
//! [`JsonErrorIo`], which gives the JSON error body to the answers hyper writes by itself. A request hyper cannot parse (a URI
//! over 64 KiB, headers over its buffer, a malformed request line) never reaches the router:
//! hyper answers 414, 431 or 400 with an empty body and closes the connection. The stream
//! recognises such an answer as it is written — a 4xx head without the `x-gryt-server`
//! header every routed answer carries, and without a body — and writes the same status with
//! the `{error, message, details}` body instead.
//!
//! A request refused before its body was read (413 on the declared length, 415, one of those
//! automatic answers) leaves the body's bytes arriving: closing the socket on them would make
//! the kernel send a reset, and a client still writing its body would lose the answer with
//! it. Such a connection lingers instead: after the answer and its FIN, it reads and drops
//! what still comes, up to [`LINGER_BYTES`] or [`LINGER_TIME`], then closes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::api::{ErrorBody, ErrorCode, SERVER_VERSION_HEADER};

/// How much of an unread request body a refusing connection reads and drops before it closes.
pub const LINGER_BYTES: usize = 64 * 1024 * 1024;
/// How long a refusing connection waits for the rest of an unread request body.
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// A stream that swaps hyper's bodiless automatic error answers for JSON ones, and lingers
/// on close after answering a request it did not read whole.
pub struct JsonErrorIo<IO> {
    inner: IO,
    /// A replacement answer still to be written, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
    /// Set once an answer refused a request whose body may still be arriving.
    linger: Option<Linger>,
}

#[derive(Default)]
struct Linger {
    /// Our FIN is sent: the peer reads the answer to its end.
    fin_sent: bool,
    /// Created when the lingering starts (after the FIN).
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    dropped: usize,
    done: bool,
}

impl<IO> JsonErrorIo<IO> {
    pub fn new(inner: IO) -> Self {
        JsonErrorIo {
            inner,
            pending: None,
            linger: None,
        }
    }
}

impl<IO: AsyncWrite + Unpin> JsonErrorIo<IO> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.pending {
            if *done == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> JsonErrorIo<IO> {
    /// Reads and drops what the peer still sends, until it closes, an error, the byte budget
    /// or the deadline.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(linger) = &mut self.linger else {
            return Poll::Ready(());
        };
        if linger.done {
            return Poll::Ready(());
        }
        let deadline = linger
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER_TIME)));
        let mut scratch = [0u8; 16 * 1024];
        loop {
            if deadline.as_mut().poll(cx).is_ready() || linger.dropped >= LINGER_BYTES {
                break;
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    linger.dropped += buf.filled().len();
                }
                Poll::Ready(_) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        linger.done = true;
        Poll::Ready(())
    }
}

/// Whether `written` starts a 4xx answer: a refusal that may come before the request's body
/// was read (413 on the declared length, 415, 401 before the body is looked at, hyper's own).
fn refuses_unread_body(written: &[u8]) -> bool {
    written.starts_with(b"HTTP/1.1 4") || written.starts_with(b"HTTP/1.0 4")
}

impl<IO: AsyncRead + Unpin> AsyncRead for JsonErrorIo<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for JsonErrorIo<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if refuses_unread_body(buf) {
            self.linger = Some(Linger::default());
        }
        if let Some(replacement) = json_automatic_answer(buf) {
            // hyper's answer counts as written; the replacement goes out on flush.
            self.pending = Some((replacement, 0));
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        let Some(linger) = &self.linger else {
            return Pin::new(&mut self.inner).poll_shutdown(cx);
        };
        if !linger.fin_sent {
            ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            if let Some(l) = &mut self.linger {
                l.fin_sent = true;
            }
        }
        ready!(self.poll_linger(cx));
        Poll::Ready(Ok(()))
    }

    /// One buffer per write: hyper then hands over a whole answer head in one call, which is
    /// what [`json_automatic_answer`] looks at.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// The JSON answer to send instead of `written`, when `written` is exactly one bodiless
/// error head that did not come from the router (routed answers carry
/// `x-gryt-server`). `None` for anything else, which is written unchanged.
pub fn json_automatic_answer(written: &[u8]) -> Option<Vec<u8>> {
    let head_len = written.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    if head_len != written.len() {
        return None;
    }
    let head = std::str::from_utf8(written).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?;
    let status: u16 = rest.get(..3)?.parse().ok()?;
    if !(400..500).contains(&status) {
        return None;
    }
    let mut kept = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case(SERVER_VERSION_HEADER) {
            return None;
        }
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("connection") {
            continue;
        }
        kept.push(line);
    }
    let code = ErrorCode::for_status(status);
    let message = match code {
        ErrorCode::UriTooLong => "the request URI is longer than this server accepts (64 KiB)",
        ErrorCode::HeadersTooLarge => "the request headers are larger than this server accepts",
        _ => "the request is not well-formed HTTP",
    };
    let body = serde_json::to_string(&ErrorBody::new(code, message)).ok()?;
    let mut out = format!("{status_line}\r\n");
    for line in kept {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\n{SERVER_VERSION_HEADER}: gryt/{}\r\nconnection: close\r\n\r\n{body}",
        body.len(),
        env!("CARGO_PKG_VERSION"),
    ));
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_automatic_answers_get_the_json_body() {
        let out = json_automatic_answer(
            b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Fri, 04 Dec 2026 12:00:00 GMT\r\n\r\n",
        )
        .expect("rewritten");
        let out = String::from_utf8(out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("date: Fri, 04 Dec 2026"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(!head.contains("content-length: 0"), "{head}");
        let body: ErrorBody = serde_json::from_str(body).unwrap();
        assert_eq!(body.error, ErrorCode::UriTooLong);
    }

    #[test]
    fn routed_answers_and_bodies_pass_unchanged() {
        for written in [
            &b"HTTP/1.1 404 Not Found\r\nx-gryt-server: gryt/0\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"{\"error\":\"validation\"}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-len",
        ] {
            assert_eq!(
                json_automatic_answer(written),
                None,
                "{}",
                String::from_utf8_lossy(written)
            );
        }
    }
}
