//! Connections: the listener [`serve`](super::serve) accepts on, whose streams give the JSON
//! error body to the answers hyper writes by itself. A request hyper cannot parse (a URI
//! over 64 KiB, headers over its buffer, a malformed request line) never reaches the router:
//! hyper answers 414, 431 or 400 with an empty body and closes the connection. The stream
//! recognises such an answer as it is written — a 4xx head without the `x-gryt-server`
//! header every routed answer carries, and without a body — and writes the same status with
//! the `{error, message, details}` body instead.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::api::{ErrorBody, ErrorCode, SERVER_VERSION_HEADER};

/// A TCP listener whose connections answer parse errors with the JSON error body.
pub struct JsonErrorListener(pub TcpListener);

impl axum::serve::Listener for JsonErrorListener {
    type Io = JsonErrorIo<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (JsonErrorIo::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A stream that swaps hyper's bodiless automatic error answers for JSON ones.
pub struct JsonErrorIo<IO> {
    inner: IO,
    /// A replacement answer still to be written, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<IO> JsonErrorIo<IO> {
    pub fn new(inner: IO) -> Self {
        JsonErrorIo {
            inner,
            pending: None,
        }
    }

    pub fn get_ref(&self) -> &IO {
        &self.inner
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

impl<IO: AsyncRead + Unpin> AsyncRead for JsonErrorIo<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for JsonErrorIo<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
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
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
