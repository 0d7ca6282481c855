//! Hostile input never crashes lmguard: property tests of the address
//! parser and the event parser with random and adversarial input, and a
//! large hostile standard input through the real binary.
//!
//! Deterministic (a fixed-seed xorshift generator), so a failure can be
//! reproduced; the seed is in each assertion message.

use crate::common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use fake_loadmaster::Scope;
use ipnet::IpNet;
use lmguard::domain::address::Address;
use lmguard::domain::event::{parse_line, parse_stream, InputFormat, MAX_LINE_BYTES};

/// xorshift64*: small, deterministic, good enough to shake a parser.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ----- the address parser --------------------------------------------------

const ADDRESS_PIECES: &[&str] = &[
    "0",
    "1",
    "9",
    "00",
    "010",
    "255",
    "256",
    "999",
    "4294967296",
    "a",
    "f",
    "F",
    "ffff",
    "g",
    ".",
    "..",
    ":",
    "::",
    ":::",
    "/",
    "//",
    "/0",
    "/8",
    "/24",
    "/32",
    "/33",
    "/64",
    "/128",
    "/129",
    "/-1",
    "/+8",
    "[",
    "]",
    "%eth0",
    " ",
    "\t",
    "\0",
    "\u{feff}",
    "é",
    "١",
    "🦀",
    "::ffff:",
    "1.2.3.4",
    "2001:db8::",
    "fe80::1",
    "-",
    "+",
    "0x",
    "e",
];

/// Whatever the input, the parser answers (no panic), and what it accepts
/// is canonical: printing and parsing again gives the same address and the
/// same text.
fn check_address(input: &str, seed: u64) {
    let Ok(a) = input.parse::<Address>() else {
        return;
    };
    let shown = a.to_string();
    assert!(
        shown.is_ascii() && !shown.contains(char::is_whitespace),
        "seed {seed}: {input:?} → {shown:?}"
    );
    let again: Address = shown
        .parse()
        .unwrap_or_else(|e| panic!("seed {seed}: {input:?} → {shown:?} does not parse: {e}"));
    assert_eq!(again, a, "seed {seed}: {input:?}");
    assert_eq!(again.to_string(), shown, "seed {seed}: {input:?}");
    let net = a.network();
    assert_eq!(
        net.trunc(),
        net,
        "seed {seed}: host bits kept for {input:?}"
    );
}

#[test]
fn random_address_text_never_panics_and_round_trips() {
    for seed in 1..=40_000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let pieces = rng.below(12);
        let input: String = (0..pieces).map(|_| *rng.pick(ADDRESS_PIECES)).collect();
        check_address(&input, seed);
        // Raw bytes, made into text the way a caller would have to.
        let bytes: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        check_address(&String::from_utf8_lossy(&bytes), seed);
    }
}

#[test]
fn every_valid_address_and_network_round_trips() {
    let mut rng = Rng(0x5eed);
    for i in 0..20_000 {
        let v6 = i % 2 == 1;
        let (ip, max): (IpAddr, u8) = if v6 {
            let bits = (u128::from(rng.next()) << 64) | u128::from(rng.next());
            (IpAddr::V6(Ipv6Addr::from(bits)), 128)
        } else {
            (IpAddr::V4(Ipv4Addr::from(rng.next() as u32)), 32)
        };
        let prefix = rng.below(usize::from(max) + 1) as u8;
        let net = IpNet::new(ip, prefix).unwrap().trunc();
        let text = if prefix == max {
            net.addr().to_string()
        } else {
            net.to_string()
        };
        let a: Address = text
            .parse()
            .unwrap_or_else(|e| panic!("{text} is valid: {e}"));
        assert_eq!(a.network(), net, "{text}");
        assert_eq!(a.to_string(), text, "canonical already");
        // Upper case and an explicit host prefix normalise to the same.
        let upper: Address = text.to_uppercase().parse().unwrap();
        assert_eq!(upper, a, "{text}");
        if prefix == max {
            let explicit: Address = format!("{text}/{max}").parse().unwrap();
            assert_eq!(explicit.to_string(), text);
        } else if net.addr() != net.broadcast() {
            // Host bits after the prefix are refused, with a suggestion.
            let with_host_bits = format!("{}/{prefix}", net.broadcast());
            let e = with_host_bits.parse::<Address>().unwrap_err();
            assert!(e.reason.contains("did you mean"), "{with_host_bits}: {e}");
        }
    }
}

#[test]
fn huge_and_hostile_address_text_is_refused_quickly() {
    let hostile = [
        "1".repeat(1 << 20),
        "1.".repeat(1 << 19),
        ":".repeat(1 << 20),
        "::".repeat(1 << 19) + "1",
        format!("192.0.2.0/{}", "9".repeat(1 << 20)),
        format!("{}/24", "f:".repeat(1 << 19)),
        "\0".repeat(1 << 20),
        "é".repeat(1 << 19),
        "[".repeat(1 << 20),
    ];
    let start = Instant::now();
    for text in &hostile {
        let e = text.parse::<Address>().unwrap_err();
        // The error message quotes the input: that is the caller's to cut
        // (the event parser quotes at most 80 characters).
        assert!(!e.reason.is_empty());
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "9 MB of hostile address text took {:?}",
        start.elapsed()
    );
}

// ----- the event parser -----------------------------------------------------

/// An ADS syslog line in CEF, as ADS 13 sends it.
fn valid_cef_line(source: &str) -> Vec<u8> {
    format!(
        "Nov 30 09:00:00 ads ADS[42]: CEF:0|Flowmon Networks|Flowmon ADS Ultimate|13.00.00|\
         SSHDICT|SSH attack|8|src={source} start=Nov 30 2026 09:00:00 msg=a\\=b c\\nd \
         cs2=Default cs2Label=MethodInstanceName"
    )
    .into_bytes()
}

fn valid_ads_line(id: u32, source: &str) -> Vec<u8> {
    let mut fields = vec![" "; 16];
    let id = id.to_string();
    fields[0] = &id;
    fields[1] = "2026-11-24 10:13:00";
    fields[3] = "SCANS";
    fields[4] = "Port scanning";
    fields[8] = "High";
    fields[12] = source;
    fields.join("\t").into_bytes()
}

/// Lines built to hurt: huge, NUL bytes, invalid UTF-8, 10 000 fields,
/// deep JSON nesting, control characters, and random mutations of valid
/// lines.
fn hostile_lines(rng: &mut Rng, count: usize) -> Vec<Vec<u8>> {
    let mut lines = Vec::with_capacity(count);
    for i in 0..count {
        let line = match rng.below(17) {
            12 => valid_cef_line("203.0.113.81"),
            13 => {
                let mut l = valid_cef_line("203.0.113.82");
                for _ in 0..rng.below(8) {
                    let at = rng.below(l.len());
                    l[at] = *rng.pick(b"|\\= \t\0\xff");
                }
                l
            }
            14 => {
                let mut l = b"CEF:0|a|b|c|SCANS|d|6|".to_vec();
                l.extend(b"k=".repeat(5_000 + rng.below(100)));
                l
            }
            15 => {
                let mut l = b"x CEF:".to_vec();
                l.extend(b"\\|".repeat(5_000 + rng.below(100)));
                l
            }
            16 => {
                let mut l = b"CEF:0|a|b|c|SCANS|d|6|msg=".to_vec();
                l.extend(b"\\=\\\\\\n ".repeat(3_000));
                l.extend(b" c6a2=2001:DB8::9 c6a2Label=srcIPv6");
                l
            }
            0 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
            1 => {
                let mut l = valid_ads_line(i as u32, "203.0.113.77");
                l.extend(std::iter::repeat_n(b'\t', 10_000));
                l
            }
            2 => vec![b'\t'; 10_000 + rng.below(100)],
            3 => {
                let mut l = valid_ads_line(i as u32, "203.0.113.78");
                let at = rng.below(l.len());
                l.insert(at, 0);
                l
            }
            4 => {
                let mut l = valid_ads_line(i as u32, "203.0.113.79");
                let at = rng.below(l.len());
                l.insert(at, 0xff);
                l.insert(at, 0xc3);
                l
            }
            5 => b"[".repeat(50_000 + rng.below(1000)),
            6 => {
                let mut l = b"{\"timestamp\":1,\"source\":".to_vec();
                l.extend(b"{\"a\":".repeat(2_000));
                l
            }
            7 => std::iter::repeat_n("x\t", 5_000)
                .collect::<String>()
                .into_bytes(),
            8 => format!(
                "{{\"timestamp\":\"t\",\"source\":\"{}\"}}",
                "1".repeat(rng.below(5_000))
            )
            .into_bytes(),
            9 => "\u{1b}[2J\u{7}\r\u{202e}\t"
                .repeat(rng.below(200))
                .into_bytes(),
            10 => {
                let mut l = valid_ads_line(i as u32, "203.0.113.80");
                for _ in 0..rng.below(8) {
                    let at = rng.below(l.len());
                    l[at] = rng.next() as u8;
                }
                l
            }
            _ => valid_ads_line(i as u32, &format!("2001:db8::{:x}", rng.below(0xffff))),
        };
        // A newline inside a line would make it two.
        lines.push(line.into_iter().filter(|&b| b != b'\n').collect());
    }
    lines
}

fn is_blank(line: &[u8]) -> bool {
    std::str::from_utf8(line).is_ok_and(|t| t.trim().is_empty())
}

/// The lines of `input` as lmguard sees them: a line ends at `\n`, `\r\n`
/// or a bare `\r`.
fn split_lines(input: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = vec![Vec::new()];
    let mut bytes = input.iter().peekable();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'\r' | b'\n' => {
                if byte == b'\r' && bytes.peek() == Some(&&b'\n') {
                    bytes.next();
                }
                lines.push(Vec::new());
            }
            other => lines.last_mut().unwrap().push(other),
        }
    }
    if lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    lines
}

#[test]
fn hostile_event_streams_never_panic_and_every_line_is_accounted_for() {
    let mut rng = Rng(0xdead_beef);
    let mut lines = hostile_lines(&mut rng, 1_000);
    // One line over the limit, and one just under it.
    lines.push(vec![b'A'; MAX_LINE_BYTES + 10]);
    lines.push(vec![b'\t'; MAX_LINE_BYTES - 1]);
    let mut input = Vec::new();
    for l in &lines {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    let seen = split_lines(&input);
    let non_blank = seen.iter().filter(|l| !is_blank(l)).count();
    for format in [
        InputFormat::Auto,
        InputFormat::Tsv,
        InputFormat::Json,
        InputFormat::Cef,
    ] {
        let (mut good, mut bad) = (0usize, 0usize);
        let start = Instant::now();
        parse_stream(input.as_slice(), format, |_| good += 1, |_| bad += 1).unwrap();
        let took = start.elapsed();
        assert_eq!(good + bad, non_blank, "{format:?}");
        assert!(bad > 0, "{format:?}: {good} good, {bad} bad");
        if format != InputFormat::Json {
            assert!(good > 0, "{format:?}: {good} good, {bad} bad");
        }
        assert!(
            took < Duration::from_secs(20),
            "{format:?}: {} MB took {took:?}",
            input.len() >> 20
        );
    }
    // Each line on its own is answered too, in every format.
    for (i, l) in lines.iter().enumerate().take(1_000) {
        let _ = parse_line(l, i + 1, InputFormat::Auto);
    }
}

#[test]
fn the_event_parser_is_linear_in_the_input() {
    // Twice the input must not take much more than twice the time; the
    // worst shapes for a quadratic parser: very many fields, very long
    // fields, long lines of separators.
    let cef = |tail: &[u8], n: usize| {
        let mut l = b"h ADS: CEF:0|V|P|1|SCANS|S|6|".to_vec();
        l.extend(tail.repeat(n / tail.len()));
        l
    };
    let shapes: [&dyn Fn(usize) -> Vec<u8>; 9] = [
        &|n| cef(b"k=", n),
        &|n| cef(b"k", n),
        &|n| cef(b"\\=", n),
        &|n| cef(b"a b ", n),
        &|n| cef(b" =", n),
        &|n| {
            let mut l = b"CEF:".to_vec();
            l.extend(b"\\|".repeat(n / 2));
            l
        },
        &|n| vec![b'\t'; n],
        &|n| {
            let mut l = valid_ads_line(1, "203.0.113.7");
            l.extend(std::iter::repeat_n(b'x', n));
            l
        },
        &|n| b"[".repeat(n),
    ];
    for (i, shape) in shapes.iter().enumerate() {
        let time = |n: usize| {
            let line = shape(n);
            let mut best = Duration::MAX;
            for _ in 0..3 {
                let start = Instant::now();
                let _ = parse_line(&line, 1, InputFormat::Auto);
                best = best.min(start.elapsed());
            }
            best
        };
        let small = time(MAX_LINE_BYTES / 8);
        let large = time(MAX_LINE_BYTES / 2);
        // 4× the input; allow 12× the time (noise on a shared machine),
        // far below the 16× a quadratic parser would need.
        assert!(
            large <= small * 12 + Duration::from_millis(20),
            "shape {i}: {small:?} for 1/8 of the limit, {large:?} for 1/2"
        );
    }
}

// ----- through the binary ---------------------------------------------------

#[test]
fn a_large_hostile_stdin_is_survived_quickly_by_block() {
    let env = common::Env::new();
    let mut rng = Rng(0x0bad_cafe);
    let mut input = Vec::new();
    let good = [
        "203.0.113.201",
        "203.0.113.202",
        "2001:db8:77::1",
        "203.0.113.203",
    ];
    input.extend(valid_ads_line(1, good[0]));
    input.push(b'\n');
    for line in hostile_lines(&mut rng, 4_000) {
        // Keep the LoadMaster calls few: hostile lines name no other
        // address that parses, except the fixed ones below.
        let line: Vec<u8> = line
            .into_iter()
            .map(|b| if b == b':' { b';' } else { b })
            .collect();
        input.extend(line);
        input.push(b'\n');
    }
    input.extend(vec![b'Z'; MAX_LINE_BYTES + 1]);
    input.push(b'\n');
    input.extend(valid_ads_line(2, good[1]));
    input.push(b'\n');
    input.extend(valid_cef_line(good[3]));
    input.push(b'\r');
    input.extend(b"\0\0\0\xff\xfe\n");
    input.extend(valid_ads_line(3, good[2]));
    // No final newline.
    let size = input.len();

    let start = Instant::now();
    let out = env.run_stdin(&["block"], input);
    let took = start.elapsed();
    assert_eq!(
        out.code(),
        4,
        "{}",
        &out.stderr()[..out.stderr().len().min(2_000)]
    );
    assert!(
        took < Duration::from_secs(30),
        "{} MB of hostile input took {took:?}",
        size >> 20
    );
    let err = out.stderr();
    assert!(
        err.contains("line too long"),
        "{}",
        &err[..err.len().min(2_000)]
    );
    assert!(
        !err.contains("panicked"),
        "{}",
        &err[..err.len().min(2_000)]
    );
    let on_lm = env.on_lm(Scope::Global);
    for address in good {
        // An IPv6 host is sent as /128.
        let sent = if address.contains(':') {
            format!("{address}/128")
        } else {
            address.to_string()
        };
        assert!(on_lm.contains(&sent), "{sent} in {on_lm:?}");
    }
    // Every line was answered for: the summary counts the rejected ones.
    assert!(out.stdout().contains("rejected"), "{}", out.stdout());
}
