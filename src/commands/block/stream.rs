//! Standard input as a stream of batches, for `block`.
//!
//! A syslog daemon (rsyslog `omprog`, syslog-ng `program()`) starts `block`
//! once and keeps its standard input open for hours; ADS hands over a few
//! lines and closes it. Both are served the same way: a reader thread parses
//! lines as they arrive and passes them through a bounded channel; this
//! side cuts them into batches — whatever has arrived when the input pauses
//! ([`PAUSE`]), at the latest a second after the batch's first line
//! ([`MAX_WAIT`]), at most [`MAX_LINES`] lines — and hands each batch over
//! as soon as it is cut. Memory is bounded by the channel and one batch,
//! whatever the length of the stream.
//!
//! SIGTERM and SIGINT end the stream: what the reader has already been
//! given (waiting at most [`GRACE`] for it) becomes the last batch, and
//! [`run`] returns [`Ended::Signal`]. A second signal while that last batch
//! is being recorded ends the process at once (exit status 1).

use std::io::{self, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::event::{self, Event, InputFormat, LineEnds, LineError};
use crate::error::{Error, Result};

/// One input line, parsed: an event, a blank line (`Ok(None)`) or the
/// reason it is unusable.
pub(crate) type Line = std::result::Result<Option<Event>, LineError>;

/// A batch is cut when no line has arrived for this long.
pub(crate) const PAUSE: Duration = Duration::from_millis(20);
/// …or this long after its first line, while lines keep arriving.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(1);
/// …or when it has this many lines (bounds memory on a fast stream).
pub(crate) const MAX_LINES: usize = 10_000;
/// After a signal, how long to wait for lines already written to standard
/// input but not yet parsed.
pub(crate) const GRACE: Duration = Duration::from_secs(2);
/// After a signal, the input counts as drained when nothing arrives for
/// this long.
const GRACE_PAUSE: Duration = Duration::from_millis(100);
/// How often an idle stream looks for a signal.
const POLL: Duration = Duration::from_millis(100);
/// Parsed lines waiting between the reader thread and the batches. The
/// channel sets up every slot when it is made (~170 bytes each): 4 096 of
/// them were 0.5 ms of a one-event `block`'s 3.7 ms, and no faster for a
/// large input (bench rows 1s, 2, 7).
const CHANNEL_LINES: usize = 256;
/// The reader's buffer.
const READ_BUFFER: usize = 64 * 1024;

/// Why the stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Standard input was closed (end of file).
    Eof,
    /// SIGTERM or SIGINT.
    Signal,
}

enum Message {
    Line(Line),
    End(io::Result<()>),
}

/// Why [`gather`] stopped.
#[derive(PartialEq, Eq)]
enum Cut {
    /// The batch reached [`MAX_LINES`]; more may be waiting.
    Full,
    /// No line for the pause, or the deadline passed.
    Waited,
    /// The reader reached the end of its input.
    End,
}

/// Reads `input` in a thread and calls `on_batch` with each batch of
/// lines, in input order, and whether the input has ended (no batch
/// follows: ADS's few lines, or a daemon closing the stream). Lines end
/// where `ends` says. Returns when the input ends or a signal arrives; an
/// error of `on_batch` stops it at once.
pub(crate) fn run<R: Read + Send + 'static>(
    input: R,
    format: InputFormat,
    ends: LineEnds,
    mut on_batch: impl FnMut(Vec<Line>, bool) -> Result<()>,
) -> Result<Ended> {
    let stop = watch_signals()?;
    let (sender, receiver) = mpsc::sync_channel(CHANNEL_LINES);
    std::thread::Builder::new()
        .name("lmguard-stdin".to_string())
        .spawn(move || {
            let reader = BufReader::with_capacity(READ_BUFFER, input);
            let result = event::read_lines_ending(reader, format, ends, |line| {
                // The receiver is gone only when lmguard is ending.
                let _ = sender.send(Message::Line(line));
            });
            let _ = sender.send(Message::End(result));
        })
        .map_err(|e| Error::internal(format!("cannot start the input reader: {e}")))?;

    let mut batch = Vec::new();
    let mut end: Option<io::Result<()>> = None;
    let mut grace_until: Option<Instant> = None;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let cut = if stopping {
            let until = *grace_until.get_or_insert_with(|| Instant::now() + GRACE);
            gather(&receiver, &mut batch, &mut end, until, GRACE_PAUSE)
        } else {
            match receiver.recv_timeout(POLL) {
                Ok(message) => {
                    if take(message, &mut batch, &mut end) {
                        Cut::End
                    } else {
                        gather(
                            &receiver,
                            &mut batch,
                            &mut end,
                            Instant::now() + MAX_WAIT,
                            PAUSE,
                        )
                    }
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    end.get_or_insert(Ok(()));
                    Cut::End
                }
            }
        };
        if !batch.is_empty() {
            on_batch(std::mem::take(&mut batch), end.is_some())?;
        }
        if let Some(result) = end.take() {
            result.map_err(|e| {
                Error::usage(format!("cannot read events from standard input: {e}"))
            })?;
            // A daemon stopping its program signals it and closes its
            // input: the end is the signal's, whichever came first.
            return Ok(if stop.load(Ordering::SeqCst) {
                Ended::Signal
            } else {
                Ended::Eof
            });
        }
        if stopping && cut != Cut::Full {
            return Ok(Ended::Signal);
        }
    }
}

/// Adds what arrives to `batch` until the input pauses for `pause`, the
/// `deadline` passes, the batch is full, or the input ends.
fn gather(
    receiver: &Receiver<Message>,
    batch: &mut Vec<Line>,
    end: &mut Option<io::Result<()>>,
    deadline: Instant,
    pause: Duration,
) -> Cut {
    loop {
        if batch.len() >= MAX_LINES {
            return Cut::Full;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Cut::Waited;
        }
        match receiver.recv_timeout(pause.min(left)) {
            Ok(message) => {
                if take(message, batch, end) {
                    return Cut::End;
                }
            }
            Err(RecvTimeoutError::Timeout) => return Cut::Waited,
            Err(RecvTimeoutError::Disconnected) => {
                end.get_or_insert(Ok(()));
                return Cut::End;
            }
        }
    }
}

/// Files one message; true at the end of the input.
fn take(message: Message, batch: &mut Vec<Line>, end: &mut Option<io::Result<()>>) -> bool {
    match message {
        Message::Line(line) => {
            batch.push(line);
            false
        }
        Message::End(result) => {
            *end = Some(result);
            true
        }
    }
}

/// SIGTERM and SIGINT set the returned flag instead of killing the
/// process; a second one, once the flag is set, exits at once with 1.
fn watch_signals() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGTERM, SIGINT] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(|e| Error::internal(format!("cannot watch for signal {signal}: {e}")))?;
    }
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands over its pieces with a delay before each.
    struct Slow(Vec<(Duration, Vec<u8>)>);

    impl Read for Slow {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let Some((delay, mut piece)) = (!self.0.is_empty()).then(|| self.0.remove(0)) else {
                return Ok(0);
            };
            std::thread::sleep(delay);
            let n = piece.len().min(out.len());
            out[..n].copy_from_slice(&piece[..n]);
            if n < piece.len() {
                self.0.insert(0, (Duration::ZERO, piece.split_off(n)));
            }
            Ok(n)
        }
    }

    fn line(source: &str) -> Vec<u8> {
        format!("CEF:0|V|P|1|SCANS|Scan|6|src={source}\n").into_bytes()
    }

    fn batches(input: Slow) -> Vec<Vec<String>> {
        let mut seen = Vec::new();
        let mut lasts = Vec::new();
        let ended = run(input, InputFormat::Auto, LineEnds::Any, |batch, last| {
            lasts.push(last);
            seen.push(
                batch
                    .into_iter()
                    .map(|l| match l {
                        Ok(Some(e)) => e.source.to_string(),
                        Ok(None) => "blank".to_string(),
                        Err(e) => format!("error {}", e.line),
                    })
                    .collect(),
            );
            Ok(())
        })
        .unwrap();
        assert_eq!(ended, Ended::Eof);
        // The end of the input comes with the last batch (these inputs end
        // right after their last line), and only with it.
        let mut expected = vec![false; lasts.len()];
        if let Some(l) = expected.last_mut() {
            *l = true;
        }
        assert_eq!(lasts, expected);
        seen
    }

    #[test]
    fn a_pause_cuts_a_batch() {
        let ms = Duration::from_millis;
        let seen = batches(Slow(vec![
            (ms(0), [line("192.0.2.1"), line("192.0.2.2")].concat()),
            (ms(300), [b"\n".to_vec(), line("192.0.2.3")].concat()),
            (ms(300), b"bad\n".to_vec()),
        ]));
        assert_eq!(
            seen,
            [
                vec!["192.0.2.1", "192.0.2.2"],
                vec!["blank", "192.0.2.3"],
                vec!["error 5"]
            ]
        );
    }

    #[test]
    fn a_steady_stream_is_cut_every_second() {
        // A line every 10 ms (below the pause) for 2.5 s.
        let pieces = (0..250)
            .map(|i| {
                (
                    Duration::from_millis(10),
                    line(&format!("192.0.2.{}", i % 250)),
                )
            })
            .collect();
        let seen = batches(Slow(pieces));
        assert!(seen.len() >= 3, "{} batches", seen.len());
        assert_eq!(seen.iter().map(Vec::len).sum::<usize>(), 250);
        assert!(
            seen.iter().all(|b| b.len() <= 110),
            "{:?}",
            seen.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_fast_stream_is_cut_at_max_lines() {
        let input = (0..(MAX_LINES * 2 + 5))
            .flat_map(|i| line(&format!("192.0.2.{}", i % 250)))
            .collect();
        let seen = batches(Slow(vec![(Duration::ZERO, input)]));
        assert_eq!(seen.iter().map(Vec::len).sum::<usize>(), MAX_LINES * 2 + 5);
        assert!(seen.iter().all(|b| b.len() <= MAX_LINES));
    }
}
