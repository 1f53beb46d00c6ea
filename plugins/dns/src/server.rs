//! The answer to each request the DNS server receives: the names of `hosts` authoritatively,
//! everything else from the upstreams; and the query log when `debug` is on.

use std::sync::Arc;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Message, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::Record;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tracing::{debug, info};

use crate::cache::Key;
use crate::resolver::{Resolver, Source};

pub struct Handler {
    pub resolver: Arc<Resolver>,
}

/// What goes back to the client.
struct Reply {
    code: ResponseCode,
    authoritative: bool,
    authentic_data: bool,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
}

impl Reply {
    fn error(code: ResponseCode) -> Reply {
        Reply::records(code, false, Vec::new())
    }

    fn records(code: ResponseCode, authoritative: bool, answers: Vec<Record>) -> Reply {
        Reply { code, authoritative, authentic_data: false, answers, authorities: vec![], additionals: vec![] }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, response: R) -> ResponseInfo {
        let active = self.resolver.active();
        let (reply, source) = self.reply(request).await;
        if active.settings.debug {
            let query = match request.queries.queries() {
                [query] => format!("{} {} {}", query.original().name(), query.query_class(), query.query_type()),
                queries => format!("{} questions", queries.len()),
            };
            info!(
                "query {query} from {} over {}: {}, {} answers ({source})",
                request.src(),
                request.protocol(),
                reply.code,
                reply.answers.len()
            );
        }
        send(request, reply, response).await
    }
}

impl Handler {
    async fn reply(&self, request: &Request) -> (Reply, String) {
        if request.metadata.op_code != OpCode::Query {
            return (Reply::error(ResponseCode::NotImp), "refused".to_owned());
        }
        let Ok(info) = request.request_info() else {
            return (Reply::error(ResponseCode::FormErr), "refused".to_owned());
        };
        let query = info.query;
        if self.resolver.probe_arrived(query.name()) {
            return (Reply::error(ResponseCode::ServFail), "our own loop probe".to_owned());
        }
        if let Some(answer) = self.resolver.active().hosts.answer(query) {
            return (Reply::records(answer.code, true, answer.records), "hosts".to_owned());
        }
        let dnssec_ok = request.edns.as_ref().is_some_and(|edns| edns.flags().dnssec_ok);
        let key = Key {
            name: query.name().clone(),
            record_type: query.query_type(),
            class: query.query_class(),
            dnssec_ok,
            checking_disabled: request.metadata.checking_disabled,
        };
        let (message, source) = self.resolver.resolve(key, query.original()).await;
        let message = Message::clone(&message);
        let reply = Reply {
            code: message.metadata.response_code,
            authoritative: false,
            authentic_data: message.metadata.authentic_data && (dnssec_ok || request.metadata.authentic_data),
            answers: message.answers,
            authorities: message.authorities,
            additionals: message.additionals,
        };
        let source = match source {
            Source::Cache => "cache".to_owned(),
            Source::Shared => "shared with the same query in flight".to_owned(),
            Source::Upstream(addr) => format!("dns://{addr}"),
            Source::Nowhere => "no upstream answered".to_owned(),
        };
        (reply, source)
    }
}

/// Sends the reply; the server library truncates it to what the client can take over UDP.
async fn send<R: ResponseHandler>(request: &Request, reply: Reply, mut response: R) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = reply.code;
    metadata.authoritative = reply.authoritative;
    metadata.authentic_data = reply.authentic_data;
    metadata.recursion_available = true;
    let edns = request.edns.as_ref().map(|asked| {
        let mut edns = Edns::new();
        edns.set_max_payload(asked.max_payload().max(512)).set_dnssec_ok(asked.flags().dnssec_ok);
        edns
    });
    let mut builder = MessageResponseBuilder::new(&request.queries, None);
    if let Some(edns) = &edns {
        builder.edns(edns);
    }
    let message = builder.build(
        metadata,
        reply.answers.iter(),
        reply.authorities.iter(),
        std::iter::empty(),
        reply.additionals.iter(),
    );
    match response.send_response(message).await {
        Ok(info) => info,
        Err(e) => {
            debug!("could not answer {}: {e}", request.src());
            ResponseInfo::from(Header { metadata, counts: HeaderCounts::default() })
        }
    }
}
