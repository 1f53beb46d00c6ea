//! For the tests of an API group: the group mounted behind the request guard as the router mounts
//! it, so a handler's tests see the access decisions its route declares.

use crate::{AddonRights, Guard, Tokens};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App};
use http_api::Routes;
use std::sync::Arc;

/// An app with the routes `routes` declares behind the guard, which knows the callers `tokens`
/// issued and their grants from `rights`; the test adds the managers with `app_data`.
pub fn guarded(
    routes: fn(&mut Routes),
    tokens: web::Data<Tokens>,
    rights: Arc<dyn AddonRights>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let mut declared = Routes::new();
    routes(&mut declared);
    App::new()
        .app_data(tokens)
        .app_data(web::Data::from(rights))
        .app_data(web::Data::new(declared.rules()))
        .wrap(from_fn(Guard::check))
        .configure(Routes::of(routes))
}
