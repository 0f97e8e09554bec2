//! Test helpers: a client's side of the protocol. Frontend messages are
//! built byte by byte (independently of the codec under test) and backend
//! messages are rendered as one line of text each, so that tests compare
//! readable transcripts. Test-only; it trusts its input and panics on
//! anything malformed.

pub mod frontend {
    pub fn message(message_type: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![message_type];
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn cstr(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    pub fn query(sql: &str) -> Vec<u8> {
        let mut body = Vec::new();
        cstr(&mut body, sql);
        message(b'Q', &body)
    }

    pub fn parse(statement: &str, sql: &str, param_type_oids: &[u32]) -> Vec<u8> {
        let mut body = Vec::new();
        cstr(&mut body, statement);
        cstr(&mut body, sql);
        body.extend_from_slice(&(param_type_oids.len() as u16).to_be_bytes());
        for oid in param_type_oids {
            body.extend_from_slice(&oid.to_be_bytes());
        }
        message(b'P', &body)
    }

    pub fn bind(
        portal: &str,
        statement: &str,
        param_formats: &[i16],
        params: &[Option<&[u8]>],
        result_formats: &[i16],
    ) -> Vec<u8> {
        let mut body = Vec::new();
        cstr(&mut body, portal);
        cstr(&mut body, statement);
        body.extend_from_slice(&(param_formats.len() as u16).to_be_bytes());
        for code in param_formats {
            body.extend_from_slice(&code.to_be_bytes());
        }
        body.extend_from_slice(&(params.len() as u16).to_be_bytes());
        for param in params {
            match param {
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(bytes) => {
                    body.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    body.extend_from_slice(bytes);
                }
            }
        }
        body.extend_from_slice(&(result_formats.len() as u16).to_be_bytes());
        for code in result_formats {
            body.extend_from_slice(&code.to_be_bytes());
        }
        message(b'B', &body)
    }

    pub fn describe(target: u8, name: &str) -> Vec<u8> {
        let mut body = vec![target];
        cstr(&mut body, name);
        message(b'D', &body)
    }

    pub fn close(target: u8, name: &str) -> Vec<u8> {
        let mut body = vec![target];
        cstr(&mut body, name);
        message(b'C', &body)
    }

    pub fn execute(portal: &str, max_rows: u32) -> Vec<u8> {
        let mut body = Vec::new();
        cstr(&mut body, portal);
        body.extend_from_slice(&max_rows.to_be_bytes());
        message(b'E', &body)
    }

    pub fn sync() -> Vec<u8> {
        message(b'S', b"")
    }

    pub fn flush() -> Vec<u8> {
        message(b'H', b"")
    }

    pub fn terminate() -> Vec<u8> {
        message(b'X', b"")
    }

    fn untyped(code: u32, body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32 + 8).to_be_bytes().to_vec();
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    pub fn startup_with_version(protocol_version: u32, params: &[(&str, &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (key, value) in params {
            cstr(&mut body, key);
            cstr(&mut body, value);
        }
        body.push(0);
        untyped(protocol_version, &body)
    }

    pub fn startup(params: &[(&str, &str)]) -> Vec<u8> {
        startup_with_version(3 << 16, params)
    }

    pub fn ssl_request() -> Vec<u8> {
        untyped(80_877_103, b"")
    }

    pub fn gssenc_request() -> Vec<u8> {
        untyped(80_877_104, b"")
    }

    pub fn cancel_request(process_id: u32, secret_key: u32) -> Vec<u8> {
        let mut body = process_id.to_be_bytes().to_vec();
        body.extend_from_slice(&secret_key.to_be_bytes());
        untyped(80_877_102, &body)
    }
}

struct Body<'a>(&'a [u8]);

impl Body<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn cstr(&mut self) -> String {
        let nul = self.0.iter().position(|b| *b == 0).expect("NUL terminator");
        let s = String::from_utf8(self.take(nul).to_vec()).expect("UTF-8");
        self.take(1);
        s
    }
}

/// Printable ASCII as 'text', anything else as hex.
fn render_field(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        format!("'{}'", String::from_utf8_lossy(bytes))
    } else {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{hex}")
    }
}

/// Renders the backend message at the front of `buf`, if it is complete,
/// with the number of bytes it took.
pub fn backend_message(buf: &[u8]) -> Option<(String, usize)> {
    let message_type = *buf.first()?;
    let length = u32::from_be_bytes(buf.get(1..5)?.try_into().unwrap()) as usize;
    let body = buf.get(5..1 + length)?;
    let mut b = Body(body);
    let text = match message_type {
        b'R' => match b.i32() {
            0 => "AuthenticationOk".to_string(),
            3 => "AuthenticationCleartextPassword".to_string(),
            5 => format!("AuthenticationMD5Password {:?}", b.take(4)),
            10 => {
                let mut text = "AuthenticationSASL".to_string();
                loop {
                    let mechanism = b.cstr();
                    if mechanism.is_empty() {
                        break text;
                    }
                    text += &format!(" {mechanism}");
                }
            }
            code @ (11 | 12) => {
                let data = String::from_utf8(b.take(b.0.len()).to_vec()).unwrap();
                let name = if code == 11 { "Continue" } else { "Final" };
                format!("AuthenticationSASL{name} {data}")
            }
            other => panic!("unknown authentication request {other}"),
        },
        b'v' => {
            let newest = b.i32();
            let mut text = format!(
                "NegotiateProtocolVersion {}.{}",
                newest >> 16,
                newest & 0xffff
            );
            for _ in 0..b.i32() {
                text += &format!(" {}", b.cstr());
            }
            text
        }
        b'S' => format!("ParameterStatus {}={}", b.cstr(), b.cstr()),
        b'K' => format!("BackendKeyData {} {}", b.i32(), b.i32()),
        b'Z' => format!("ReadyForQuery {}", b.take(1)[0] as char),
        b'T' => {
            let mut text = "RowDescription".to_string();
            for _ in 0..b.i16() {
                let name = b.cstr();
                let (table_oid, column_id, type_oid, typlen, typmod) =
                    (b.i32(), b.i16(), b.i32(), b.i16(), b.i32());
                let format = if b.i16() == 0 { "text" } else { "binary" };
                text += &format!(
                    " {name}:{type_oid}:{typlen}:{typmod}:{table_oid}:{column_id}:{format}"
                );
            }
            text
        }
        b'D' => {
            let mut text = "DataRow".to_string();
            for _ in 0..b.i16() {
                let length = b.i32();
                if length < 0 {
                    text += " NULL";
                } else {
                    text += &format!(" {}", render_field(b.take(length as usize)));
                }
            }
            text
        }
        b'C' => format!("CommandComplete {}", b.cstr()),
        b'I' => "EmptyQueryResponse".to_string(),
        b'E' | b'N' => {
            let mut text = if message_type == b'E' {
                "ErrorResponse"
            } else {
                "NoticeResponse"
            }
            .to_string();
            loop {
                let field = b.take(1)[0];
                if field == 0 {
                    break;
                }
                text += &format!(" {}={}", field as char, b.cstr());
            }
            text
        }
        b'1' => "ParseComplete".to_string(),
        b'2' => "BindComplete".to_string(),
        b'3' => "CloseComplete".to_string(),
        b'n' => "NoData".to_string(),
        b's' => "PortalSuspended".to_string(),
        b't' => {
            let mut text = "ParameterDescription".to_string();
            for _ in 0..b.i16() {
                text += &format!(" {}", b.i32());
            }
            text
        }
        other => panic!("unknown backend message type {:?}", other as char),
    };
    assert!(b.0.is_empty(), "trailing bytes in {text}");
    Some((text, 1 + length))
}

/// Renders every message in `buf`, which must hold whole messages only.
pub fn backend_messages(mut buf: &[u8]) -> Vec<String> {
    let mut messages = Vec::new();
    while !buf.is_empty() {
        let (text, used) = backend_message(buf).expect("a whole backend message");
        messages.push(text);
        buf = &buf[used..];
    }
    messages
}
