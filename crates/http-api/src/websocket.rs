//! Relaying a websocket: a client's connection accepted here, joined to a connection the
//! supervisor opened upstream (Core's API, an add-on's ingress), messages passed both ways until
//! either side closes. The Core proxy and ingress share it.

use actix_ws::{AggregatedMessage, AggregatedMessageStream, Session};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// The largest message relayed (Core's state dumps are large).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// An upstream websocket, however it was opened.
pub type Upstream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What to do with a text message from the client before it goes upstream.
pub enum Verdict {
    Forward,
    /// Not forwarded; this answer goes back to the client instead.
    Refuse(String),
}

/// Passes messages both ways until one side closes, then closes the other. `check` sees every
/// text message from the client first.
pub async fn relay(
    mut session: Session,
    mut client: AggregatedMessageStream,
    upstream: Upstream,
    mut check: impl FnMut(&str) -> Verdict,
) {
    let (mut up_tx, mut up_rx) = upstream.split();
    loop {
        tokio::select! {
            message = client.recv() => {
                let forward = match message {
                    Some(Ok(AggregatedMessage::Text(text))) => match check(&text) {
                        Verdict::Forward => Message::text(text.to_string()),
                        Verdict::Refuse(answer) => {
                            if session.text(answer).await.is_err() {
                                break;
                            }
                            continue;
                        }
                    },
                    Some(Ok(AggregatedMessage::Binary(bytes))) => Message::binary(bytes),
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => continue,
                    Some(Ok(AggregatedMessage::Close(_))) | Some(Err(_)) | None => break,
                };
                if up_tx.send(forward).await.is_err() {
                    break;
                }
            }
            message = up_rx.next() => {
                let sent = match message {
                    Some(Ok(Message::Text(text))) => session.text(text.as_str().to_owned()).await,
                    Some(Ok(Message::Binary(bytes))) => session.binary(bytes).await,
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(()),
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                if sent.is_err() {
                    break;
                }
            }
        }
    }
    let _ = up_tx.send(Message::Close(None)).await;
    let _ = session.close(None).await;
}

/// Accepts a client's websocket: the handshake's answer, the session to send on and the stream
/// of its messages (continuations joined, up to [`MAX_MESSAGE`]).
pub fn accept(
    req: &actix_web::HttpRequest,
    body: actix_web::web::Payload,
) -> actix_web::Result<(actix_web::HttpResponse, Session, AggregatedMessageStream)> {
    let (response, session, stream) = actix_ws::handle(req, body)?;
    let stream = stream.max_frame_size(MAX_MESSAGE).aggregate_continuations().max_continuation_size(MAX_MESSAGE);
    Ok((response, session, stream))
}
