//! The fleet controller's user keys and resource permissions, black-box: a real etcd and registry,
//! nodes joined through the API (no supervisors: what is checked is who may see and change them).
//! A key made by the controller completes the handshake with the private key it was answered;
//! its session reaches only what its permission groups grant; wrong secrets, expired or deleted
//! keys and root-only routes are refused, and refusals change nothing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use e2e::controller::{Controller, JOIN_TOKEN, ROOT_PASSWORD};
use e2e::etcd::EtcdCluster;
use e2e::registry::{LocalRegistry, BASE_IMAGE};
use reqwest::StatusCode;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::{Oaep, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;

/// Calls the controller with `Authorization: <authorization>` (none: no header).
fn call(
    controller: &Controller,
    method: &str,
    path: &str,
    body: Option<Value>,
    authorization: Option<&str>,
) -> (StatusCode, Value) {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut request = client.request(method.parse().unwrap(), controller.url(path));
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().expect("the controller answers");
    let status = response.status();
    (status, response.json().unwrap_or(Value::Null))
}

/// The secret of a fresh handshake for key `id`, decrypted with `private`, base64.
fn hand(controller: &Controller, id: &str, private: &RsaPrivateKey) -> String {
    let (status, reply) = call(controller, "POST", "/tap/v1/hand", Some(json!({"id": id})), None);
    assert_eq!(status, 200, "{reply}");
    let sealed = STANDARD.decode(reply["body"].as_str().expect("the sealed secret")).unwrap();
    STANDARD.encode(private.decrypt(Oaep::new::<Sha256>(), &sealed).expect("sealed for this key"))
}

/// Opens a session for key `id`; the `Authorization` header its requests carry.
fn log_in(controller: &Controller, id: &str, private: &RsaPrivateKey) -> String {
    let secret = hand(controller, id, private);
    let (status, reply) = call(controller, "POST", "/tap/v1/shake", Some(json!({"id": id, "secret": secret})), None);
    assert_eq!(status, 200, "{reply}");
    let session = reply["body"]["session"].as_str().expect("a session");
    assert!(reply["body"]["expires"].as_i64().is_some(), "{reply}");
    format!("Bearer {}", STANDARD.encode(json!({"id": id, "data": session}).to_string()))
}

fn refused(reply: &(StatusCode, Value), status: u16) {
    assert_eq!(reply.0, status, "{}", reply.1);
    assert_eq!(reply.1["status"], "FAIL", "{}", reply.1);
}

fn join(controller: &Controller, node: &str) {
    let info = json!({"node_id": node, "node_name": node, "ip_address": "127.0.0.1", "cpu_count": 2, "ram_bytes": 4u64 << 30, "disk_size": 1u64 << 40, "arch": "amd64", "usb_devices": [], "version": "test", "joined": "2026-01-01T00:00:00Z"});
    let reply = call(controller, "POST", "/api/v1/node/join", Some(info), Some(&format!("Bearer {JOIN_TOKEN}")));
    assert_eq!(reply.0, 200, "{}", reply.1);
}

#[test]
fn a_user_key_reaches_only_what_its_permission_groups_grant() {
    let etcd = EtcdCluster::start(1);
    let registry = LocalRegistry::start();
    registry.push(BASE_IMAGE, "fleet-auth-e2e/base:v1");
    let controller = Controller::start(&etcd.endpoints(), &registry, &etcd.prefix(), 3);
    join(&controller, "node-a");
    join(&controller, "node-b");

    // Permissions: what exists, and a group's set, refused whole when one entry is wrong.
    let available = controller.ok("GET", "/admin/api/v1/permission/resources/permissions", None);
    assert_eq!(available[0]["resource_type"], "node", "{available}");
    assert_eq!(available[0]["permissions"].as_object().unwrap().len(), 7, "{available}");
    assert_eq!(available[0]["permissions"]["create_instance"]["label"], "Create Instance");
    let ci = "/admin/api/v1/permission/group/ci/resources";
    for (wrong, status) in [
        (json!([{"id": "node-a", "type": "template", "permissions": ["list"]}]), 400),
        (json!([{"id": "node-a", "type": "node", "permissions": ["pull"]}]), 400),
        (json!([{"id": "node-z", "type": "node", "permissions": ["list"]}]), 404),
    ] {
        refused(&controller.call("POST", ci, Some(wrong)), status);
    }
    assert_eq!(controller.ok("GET", ci, None), json!([]), "refused sets keep nothing");
    let (status, reply) = controller.call(
        "POST",
        ci,
        Some(json!([
            {"id": "node-a", "id_type": "id", "type": "node", "permissions": ["list", "create_instance"]},
            {"id": "node-b", "type": "node", "permissions": ["change_config"]}
        ])),
    );
    assert_eq!((status.as_u16(), reply["message"].as_str()), (200, Some("Saved")), "{reply}");
    let set = controller.ok("GET", ci, None);
    assert_eq!(
        set[0],
        json!({"id": "node-a", "id_type": "id", "type": "node", "permissions": ["create_instance", "list"]})
    );

    // A key the controller makes: the private key comes back once, the record lists no secret.
    refused(&controller.call("POST", "/api/v1/apikey", Some(json!({"id": "dev", "groups": ["ci"]}))), 400);
    let private = controller.ok("POST", "/api/v1/apikey", Some(json!({"id": "dev", "ttl": 3600, "groups": ["ci"]})));
    let private = RsaPrivateKey::from_pkcs1_der(&STANDARD.decode(private.as_str().unwrap()).unwrap()).unwrap();
    refused(&controller.call("POST", "/api/v1/apikey", Some(json!({"id": "dev", "ttl": 60, "groups": ["ci"]}))), 409);
    let listed = controller.ok("GET", "/api/v1/apikey?id=dev", None);
    assert_eq!(listed[0]["groups"], json!(["ci"]), "{listed}");
    assert_eq!(listed[0].as_object().unwrap().len(), 4, "id, groups, expiration, created: {listed}");

    // Its session lists the one node its group may list.
    let dev = log_in(&controller, "dev", &private);
    let (status, reply) = call(&controller, "GET", "/api/v1/node", None, Some(&dev));
    assert_eq!(status, 200, "{reply}");
    let nodes: Vec<&str> = reply["body"].as_array().unwrap().iter().map(|n| n["node_id"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["node-a"]);
    refused(&call(&controller, "GET", "/api/v1/node?id=node-b", None, Some(&dev)), 403);
    assert_eq!(controller.ok("GET", "/api/v1/node", None).as_array().unwrap().len(), 2, "root lists all");

    // Configuration: refused on the node it may only list, and nothing changes; allowed on the
    // node it may configure.
    let capacity = |node: &str| controller.ok("GET", &format!("/api/v1/node?id={node}"), None)[0]["capacity"].clone();
    let config = |node: &str| json!({"node_id": node, "max_vm_count": 7});
    refused(&call(&controller, "POST", "/api/v1/node/config", Some(config("node-a")), Some(&dev)), 403);
    assert_eq!(capacity("node-a"), 2);
    let (status, reply) = call(&controller, "POST", "/api/v1/node/config", Some(config("node-b")), Some(&dev));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(capacity("node-b"), 7);
    // What no group of it grants anywhere, and what is root's alone.
    refused(&call(&controller, "DELETE", "/api/v1/node", Some(json!({"node_id": "node-a"})), Some(&dev)), 403);
    refused(&call(&controller, "GET", "/api/v1/apikey", None, Some(&dev)), 403);
    refused(
        &call(
            &controller,
            "POST",
            "/api/v1/apikey",
            Some(json!({"id": "mine", "ttl": 60, "groups": ["ci"]})),
            Some(&dev),
        ),
        403,
    );
    refused(&call(&controller, "GET", "/api/v1/group", None, Some(&dev)), 403);
    refused(&call(&controller, "GET", ci, None, Some(&dev)), 403);
    assert_eq!(controller.ok("GET", "/api/v1/apikey", None).as_array().unwrap().len(), 1, "no key was made");

    // Instances: started under one of its groups, seen and touched by it; root's are not.
    let template = controller.ok("GET", "/api/v1/registry/vm", None);
    let template = template.as_array().unwrap().iter().find(|t| t["name"] == "fleet-auth-e2e/base").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let start = |group: Option<&str>| {
        let mut body = json!({"vmid": template});
        if let Some(group) = group {
            body["group"] = json!(group);
        }
        call(&controller, "POST", "/api/v1/vm", Some(body), Some(&dev))
    };
    refused(&start(None), 400);
    refused(&start(Some("ops")), 403);
    let (status, reply) = start(Some("ci"));
    assert_eq!(status, 200, "{reply}");
    let mine = reply["body"][0].as_str().unwrap().to_string();
    let roots = controller.ok("POST", "/api/v1/vm", Some(json!({"vmid": template})))[0].as_str().unwrap().to_string();
    let (status, reply) = call(&controller, "GET", "/api/v1/vm", None, Some(&dev));
    assert_eq!(status, 200, "{reply}");
    let seen: Vec<&str> =
        reply["body"].as_array().unwrap().iter().map(|v| v["instance_id"].as_str().unwrap()).collect();
    assert_eq!(seen, [mine.as_str()]);
    refused(&call(&controller, "DELETE", "/api/v1/vm", Some(json!({"id": roots})), Some(&dev)), 403);
    assert_ne!(controller.ok("GET", &format!("/api/v1/vm?id={roots}"), None)["instance_state"], "Terminating");
    let (status, reply) = call(&controller, "DELETE", "/api/v1/vm", Some(json!({"id": mine})), Some(&dev));
    assert_eq!(status, 200, "{reply}");
    controller.ok("DELETE", "/api/v1/vm", Some(json!({"id": roots})));

    // Handshakes: a wrong secret, and a right one used twice, open nothing.
    let wrong = STANDARD.encode([7u8; 32]);
    refused(&call(&controller, "POST", "/tap/v1/shake", Some(json!({"id": "dev", "secret": wrong})), None), 401);
    let secret = hand(&controller, "dev", &private);
    let shake = json!({"id": "dev", "secret": secret});
    assert_eq!(call(&controller, "POST", "/tap/v1/shake", Some(shake.clone()), None).0, 200);
    refused(&call(&controller, "POST", "/tap/v1/shake", Some(shake), None), 401);
    refused(&call(&controller, "POST", "/tap/v1/hand", Some(json!({"id": "nobody"})), None), 401);
    let forged = format!("Bearer {}", STANDARD.encode(json!({"id": "dev", "data": "guess"}).to_string()));
    refused(&call(&controller, "GET", "/api/v1/node", None, Some(&forged)), 401);

    // A key of the caller's own public key, expired after its second: refused at the handshake.
    let own = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let public = STANDARD.encode(own.to_public_key().to_public_key_der().unwrap().as_bytes());
    let (status, reply) = controller.call(
        "POST",
        "/api/v1/apikey",
        Some(json!({"id": "brief", "ttl": 1, "groups": ["ci"], "publicKey": public})),
    );
    assert_eq!((status.as_u16(), &reply["body"]), (200, &Value::Null), "no private key to answer: {reply}");
    std::thread::sleep(Duration::from_millis(1500));
    refused(&call(&controller, "POST", "/tap/v1/hand", Some(json!({"id": "brief"})), None), 401);

    // A session ends with its key's lifetime, and with the key.
    controller.ok("PUT", "/api/v1/apikey", Some(json!({"id": "brief", "groups": ["ci"], "ttl": 3})));
    let brief = log_in(&controller, "brief", &own);
    assert_eq!(call(&controller, "GET", "/api/v1/node", None, Some(&brief)).0, 200);
    std::thread::sleep(Duration::from_millis(3500));
    refused(&call(&controller, "GET", "/api/v1/node", None, Some(&brief)), 401);
    controller.ok("DELETE", "/api/v1/apikey", Some(json!({"id": "dev"})));
    refused(&call(&controller, "GET", "/api/v1/node", None, Some(&dev)), 401);
    refused(&controller.call("DELETE", "/api/v1/apikey", Some(json!({"id": "dev"}))), 404);

    // Root, with Basic or its password as a bearer token, still reaches everything.
    assert_eq!(call(&controller, "GET", "/api/v1/apikey", None, Some(&format!("Bearer {ROOT_PASSWORD}"))).0, 200);
    refused(&controller.call_as("GET", "/api/v1/node", None, Some("wrong")), 401);
}
