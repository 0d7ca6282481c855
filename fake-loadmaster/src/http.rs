//! Minimal hand-written HTTP/1.1 server side: request parsing (Content-Length
//! and chunked bodies, `Expect: 100-continue`, pipelining-safe buffering) and
//! response formatting.

use std::io::{self, Read, Write};

/// Largest request head (request line + headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One parsed request.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    /// The request target as sent (may carry a query string).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the client wants the connection kept open afterwards.
    pub keep_alive: bool,
}

impl Request {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query string.
    pub fn path(&self) -> &str {
        match self.target.find('?') {
            Some(i) => &self.target[..i],
            None => &self.target,
        }
    }
}

#[derive(Debug)]
pub(crate) enum ReadError {
    /// Transport error (including TLS errors, timeouts, EOF mid-request).
    Io,
    /// Malformed request: answer with this status and message, then close.
    Bad(u16, &'static str),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Io
    }
}

/// Buffered reader that keeps bytes beyond the current request for the next.
pub(crate) struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    pub fn new() -> Self {
        Reader {
            buf: Vec::with_capacity(8192),
        }
    }

    /// Reads more bytes; Ok(0) at EOF.
    fn fill<S: Read>(&mut self, s: &mut S) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match s.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Makes sure at least `n` bytes are buffered.
    fn ensure<S: Read>(&mut self, s: &mut S, n: usize) -> Result<(), ReadError> {
        while self.buf.len() < n {
            if self.fill(s)? == 0 {
                return Err(ReadError::Io);
            }
        }
        Ok(())
    }

    /// Index of the CRLF ending the line that starts at `from`.
    fn line_end<S: Read>(&mut self, s: &mut S, from: usize) -> Result<usize, ReadError> {
        let mut searched = from;
        loop {
            if let Some(i) = find(&self.buf[searched..], b"\r\n") {
                return Ok(searched + i);
            }
            if self.buf.len() - from > MAX_HEAD {
                return Err(ReadError::Bad(400, "line too long"));
            }
            searched = self.buf.len().saturating_sub(1).max(from);
            if self.fill(s)? == 0 {
                return Err(ReadError::Io);
            }
        }
    }

    /// Reads one request. Ok(None) when the peer closed cleanly between
    /// requests. `s` is also written to for `100 Continue`.
    pub fn read_request<S: Read + Write>(
        &mut self,
        s: &mut S,
    ) -> Result<Option<Request>, ReadError> {
        // Head.
        let mut searched = 0;
        let head_end = loop {
            if let Some(i) = find(&self.buf[searched..], b"\r\n\r\n") {
                break searched + i;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Bad(431, "request head too large"));
            }
            searched = self.buf.len().saturating_sub(3);
            match self.fill(s) {
                Ok(0) if self.buf.is_empty() => return Ok(None),
                Ok(0) => return Err(ReadError::Io),
                Ok(_) => {}
                Err(_) if self.buf.is_empty() => return Ok(None),
                Err(_) => return Err(ReadError::Io),
            }
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| ReadError::Bad(400, "request head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split_ascii_whitespace();
        let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(t), Some(v)) if parts.next().is_none() => (m, t, v),
            _ => return Err(ReadError::Bad(400, "malformed request line")),
        };
        let http10 = match version {
            "HTTP/1.1" => false,
            "HTTP/1.0" => true,
            _ => return Err(ReadError::Bad(400, "unsupported HTTP version")),
        };
        let mut headers = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                return Err(ReadError::Bad(400, "malformed header line"));
            };
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let mut req = Request {
            method: method.to_string(),
            target: target.to_string(),
            headers,
            body: Vec::new(),
            keep_alive: !http10,
        };
        if let Some(conn) = req.header("connection").map(str::to_owned) {
            for token in conn.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    req.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    req.keep_alive = true;
                }
            }
        }
        self.buf.drain(..head_end + 4);

        let chunked = req
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        let content_length = if chunked {
            None
        } else {
            match req.header("content-length") {
                None => Some(0),
                Some(v) => match v.parse::<usize>() {
                    Ok(n) if n <= MAX_BODY => Some(n),
                    Ok(_) => return Err(ReadError::Bad(413, "request body too large")),
                    Err(_) => return Err(ReadError::Bad(400, "invalid Content-Length")),
                },
            }
        };

        let expects_continue = req
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
        let body_buffered = match content_length {
            Some(n) => self.buf.len() >= n,
            None => false,
        };
        if expects_continue && !body_buffered {
            s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            s.flush()?;
        }

        match content_length {
            Some(n) => {
                self.ensure(s, n)?;
                req.body = self.buf.drain(..n).collect();
            }
            None => req.body = self.read_chunked(s)?,
        }
        Ok(Some(req))
    }

    fn read_chunked<S: Read>(&mut self, s: &mut S) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let end = self.line_end(s, 0)?;
            let line = std::str::from_utf8(&self.buf[..end])
                .map_err(|_| ReadError::Bad(400, "malformed chunk size"))?;
            let size_str = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_str, 16)
                .map_err(|_| ReadError::Bad(400, "malformed chunk size"))?;
            self.buf.drain(..end + 2);
            if size == 0 {
                // Trailer section: lines until an empty one.
                loop {
                    let end = self.line_end(s, 0)?;
                    self.buf.drain(..end + 2);
                    if end == 0 {
                        return Ok(body);
                    }
                }
            }
            if body.len() + size > MAX_BODY {
                return Err(ReadError::Bad(413, "request body too large"));
            }
            self.ensure(s, size + 2)?;
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(ReadError::Bad(400, "malformed chunk"));
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

/// Formats a complete response (status line, headers, body) into one buffer,
/// so that it can be handed to TLS in a single write.
pub(crate) fn format_response(
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 160);
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        status,
        reason(status),
        content_type,
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Read+Write over a fixed input; writes are collected.
    struct Fake {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }
    impl Read for Fake {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // Hand out at most 3 bytes at a time to exercise the buffering.
            let n = buf.len().min(3);
            self.input.read(&mut buf[..n])
        }
    }
    impl Write for Fake {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    fn fake(s: &str) -> Fake {
        Fake {
            input: Cursor::new(s.as_bytes().to_vec()),
            output: Vec::new(),
        }
    }

    #[test]
    fn pipelined_content_length_and_chunked() {
        let mut f = fake(
            "POST /accessv2?x=1 HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\nhello\
             POST /accessv2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n",
        );
        let mut r = Reader::new();
        let a = r.read_request(&mut f).unwrap().unwrap();
        assert_eq!(a.method, "POST");
        assert_eq!(a.path(), "/accessv2");
        assert_eq!(a.target, "/accessv2?x=1");
        assert_eq!(a.body, b"hello");
        assert!(a.keep_alive);
        let b = r.read_request(&mut f).unwrap().unwrap();
        assert_eq!(b.body, b"abcde");
        assert!(!b.keep_alive);
        assert!(r.read_request(&mut f).unwrap().is_none());
    }

    #[test]
    fn expect_continue_and_http10() {
        let mut f = fake("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}");
        let mut r = Reader::new();
        let a = r.read_request(&mut f).unwrap().unwrap();
        assert!(!a.keep_alive);
        assert_eq!(a.body, b"{}");
        assert_eq!(f.output, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn malformed() {
        let mut r = Reader::new();
        assert!(matches!(
            r.read_request(&mut fake("GARBAGE\r\n\r\n")),
            Err(ReadError::Bad(400, _))
        ));
        let mut r = Reader::new();
        assert!(matches!(
            r.read_request(&mut fake("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")),
            Err(ReadError::Bad(400, _))
        ));
        let mut r = Reader::new();
        assert!(matches!(
            r.read_request(&mut fake("POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc")),
            Err(ReadError::Io)
        ));
    }

    #[test]
    fn response_format() {
        let out = format_response(422, "application/json", b"{}", true);
        assert_eq!(
            out,
            b"HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/json\r\n\
              Content-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"
        );
    }
}
