//! Drives one LXD websocket in a local task: forwards what arrives to a channel, sends what
//! the caller queues, answers pings, reassembles fragmented messages, and honours LXD's
//! conventions (an empty text message is an end-of-stream "barrier").

use actix_http::ws::{Item, ProtocolError};
use awc::ws::{Frame, Message};
use bytes::{Bytes, BytesMut};
use futures_channel::mpsc as fmpsc;
use futures_util::{Sink, SinkExt as _, Stream, StreamExt as _};
use tokio::sync::mpsc;

use super::error::{LxdError, Result};

/// Something to send on the websocket.
pub(crate) enum Outgoing {
    Binary(Bytes),
    Text(String),
}

/// How one websocket is driven.
pub(crate) struct Pump {
    /// What the socket carries, for logs.
    pub(crate) label: &'static str,
    /// Messages to send; when it ends, see `barrier_on_input_end`.
    pub(crate) input: Option<fmpsc::Receiver<Outgoing>>,
    /// Send LXD's end-of-stream barrier (empty text) once `input` ends (stdin).
    pub(crate) barrier_on_input_end: bool,
    /// Where received data goes: binary payloads as they arrive, text messages whole.
    pub(crate) output: Option<mpsc::Sender<Result<Bytes>>>,
    /// A text message ends `output` (exec data sockets) instead of being forwarded (events).
    pub(crate) text_is_eof: bool,
    /// Close the socket once nobody reads `output` any more (events); otherwise keep reading
    /// and discard (exec: stopping would stall the command).
    pub(crate) close_when_unread: bool,
    /// Answer pings. Not on sockets LXD never reads (exec stdout/stderr): unread pongs make
    /// its close a connection reset, which over TCP can discard output not yet read.
    pub(crate) answer_pings: bool,
}

enum Partial {
    None,
    Binary,
    Text(BytesMut),
}

/// Runs the pump on the current arbiter until the socket closes.
pub(crate) fn spawn<W>(ws: W, pump: Pump)
where
    W: Stream<Item = Result<Frame, ProtocolError>> + Sink<Message, Error = ProtocolError> + Unpin + 'static,
{
    actix_rt::spawn(run(ws, pump));
}

async fn next_input(input: &mut Option<fmpsc::Receiver<Outgoing>>) -> Option<Outgoing> {
    match input {
        Some(rx) => rx.next().await,
        None => std::future::pending().await,
    }
}

async fn unread(output: &Option<mpsc::Sender<Result<Bytes>>>, watch: bool) {
    match output {
        Some(tx) if watch => tx.closed().await,
        _ => std::future::pending().await,
    }
}

async fn run<W>(mut ws: W, mut pump: Pump)
where
    W: Stream<Item = Result<Frame, ProtocolError>> + Sink<Message, Error = ProtocolError> + Unpin,
{
    let mut partial = Partial::None;
    loop {
        tokio::select! {
            frame = ws.next() => {
                let frame = match frame {
                    None => {
                        tracing::trace!(socket = pump.label, "lxd websocket closed");
                        break;
                    }
                    Some(Err(e)) => {
                        tracing::debug!(socket = pump.label, error = %e, "lxd websocket failed");
                        deliver(&mut pump, Err(LxdError::Websocket(e.to_string()))).await;
                        break;
                    }
                    Some(Ok(frame)) => frame,
                };
                match frame {
                    Frame::Binary(data) => deliver(&mut pump, Ok(data)).await,
                    Frame::Text(text) => {
                        text_message(&mut pump, text).await;
                        if end_input_after_output(&mut ws, &mut pump).await.is_err() {
                            break;
                        }
                    }
                    Frame::Continuation(item) => match item {
                        Item::FirstBinary(data) => {
                            partial = Partial::Binary;
                            deliver(&mut pump, Ok(data)).await;
                        }
                        Item::FirstText(data) => partial = Partial::Text(BytesMut::from(&data[..])),
                        Item::Continue(data) => fragment(&mut pump, &mut partial, data, false).await,
                        Item::Last(data) => {
                            let text = matches!(partial, Partial::Text(_));
                            fragment(&mut pump, &mut partial, data, true).await;
                            if text && end_input_after_output(&mut ws, &mut pump).await.is_err() {
                                break;
                            }
                        }
                    },
                    Frame::Ping(payload) => {
                        if pump.answer_pings && ws.send(Message::Pong(payload)).await.is_err() {
                            break;
                        }
                    }
                    Frame::Pong(_) => {}
                    Frame::Close(reason) => {
                        // Answer, but keep the socket until LXD closes it: closing our end
                        // early makes LXD 5.0 drop the output of the other sockets.
                        let _ = ws.send(Message::Close(reason)).await;
                        pump.input = None;
                    }
                }
            }
            message = next_input(&mut pump.input) => {
                let sent = match message {
                    Some(Outgoing::Binary(data)) => ws.send(Message::Binary(data)).await,
                    Some(Outgoing::Text(text)) => ws.send(Message::Text(text.into())).await,
                    None => {
                        pump.input = None;
                        if pump.barrier_on_input_end {
                            ws.send(Message::Text("".into())).await
                        } else {
                            Ok(())
                        }
                    }
                };
                if let Err(e) = sent {
                    deliver(&mut pump, Err(LxdError::Websocket(e.to_string()))).await;
                    break;
                }
            }
            () = unread(&pump.output, pump.close_when_unread) => {
                let _ = ws.send(Message::Close(None)).await;
                break;
            }
        }
    }
}

/// A continuation fragment: binary data flows through, text is collected until the last one.
async fn fragment(pump: &mut Pump, partial: &mut Partial, data: Bytes, last: bool) {
    match partial {
        Partial::Binary => deliver(pump, Ok(data)).await,
        Partial::Text(buf) => buf.extend_from_slice(&data),
        Partial::None => {}
    }
    if last && let Partial::Text(buf) = std::mem::replace(partial, Partial::None) {
        text_message(pump, buf.freeze()).await;
    }
}

/// A whole text message: forwarded, or (exec) the end of the output.
async fn text_message(pump: &mut Pump, text: Bytes) {
    if pump.text_is_eof {
        pump.output = None;
    } else {
        deliver(pump, Ok(text)).await;
    }
}

/// After LXD ended a pty's output the command is gone, but LXD still waits for the input
/// direction to end before it finishes the operation: end it.
async fn end_input_after_output<W>(ws: &mut W, pump: &mut Pump) -> Result<(), ProtocolError>
where
    W: Sink<Message, Error = ProtocolError> + Unpin,
{
    if pump.text_is_eof && pump.output.is_none() && pump.input.is_some() && pump.barrier_on_input_end {
        pump.input = None;
        ws.send(Message::Text("".into())).await?;
    }
    Ok(())
}

async fn deliver(pump: &mut Pump, item: Result<Bytes>) {
    if let Some(tx) = &pump.output
        && tx.send(item).await.is_err()
    {
        pump.output = None;
    }
}
