//! The two test vectors of spec §1.10, reproduced byte for byte, plus envelope properties.

use proptest::prelude::*;
use twofold_proto::UnverifiedRequest;
use twofold_proto::envelope::{Alg, KEY_ENCODING, request_header_json, response_header_json, sign_compact};
use twofold_proto::response::{Empty, envelope, sign_response};

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const ORG: &str = "11111111-2222-3333-4444-555555555555";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const HEADER: &str =
    r#"{"alg":"HS256","org_alias":"11111111-2222-3333-4444-555555555555","token":"0123456789abcdef0123456789abcdef"}"#;
const REQUEST: &str = "eyJhbGciOiJIUzI1NiIsIm9yZ19hbGlhcyI6IjExMTExMTExLTIyMjItMzMzMy00NDQ0LTU1NTU1NTU1NTU1NSIsInRva2VuIjoiMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYifQ.eyJyZXFIZWFkZXIiOnsibG9jYWxlIjoiZW4iLCJvcmdBbGlhcyI6IjExMTExMTExLTIyMjItMzMzMy00NDQ0LTU1NTU1NTU1NTU1NSIsInNlY3JldEtleSI6IjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmIiwidGltZXN0YW1wIjoiMjAyNC0wMS0wMiAwMzowNDowNS42NzgiLCJ2ZXJzaW9uIjoiNC45In0sInJlcUJvZHkiOnsidXNlck5hbWUiOiJhbGljZSIsImdldFNhbWVEZXZpY2VVc2VycyI6ZmFsc2UsImNsaWVudERhdGEiOm51bGx9fQ.PN0AQo-tbY7S1ewIP8WUmqXWQ68bM-wG6kPjsuZ49oM";
const RESPONSE: &str = "eyJhbGciOiJIUzI1NiIsIm9yZ19hbGlhcyI6IjExMTExMTExLTIyMjItMzMzMy00NDQ0LTU1NTU1NTU1NTU1NSIsInRva2VuIjoiMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYifQ.eyJyZXNwb25zZUJvZHkiOnsiZXJyb3JJZCI6MTA1NjQsImVycm9yTXNnIjoiVXNlciBkb2VzIG5vdCBleGlzdCIsInVuaXF1ZU1zZ0lkIjoid2Vic19BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIiwiY2xpZW50RGF0YSI6bnVsbH19.NeAHtdtZgMHfMED55ar9g3HAM0m-Gj0hECCrnPZ_OaQ";

fn key() -> Vec<u8> {
    KEY_ENCODING.decode(KEY_B64.as_bytes()).unwrap()
}

#[test]
fn request_vector_reproduces_and_verifies() {
    let payload = r#"{"reqHeader":{"locale":"en","orgAlias":"11111111-2222-3333-4444-555555555555","secretKey":"0123456789abcdef0123456789abcdef","timestamp":"2024-01-02 03:04:05.678","version":"4.9"},"reqBody":{"userName":"alice","getSameDeviceUsers":false,"clientData":null}}"#;
    assert_eq!(
        sign_compact(Alg::HS256, &key(), HEADER.as_bytes(), payload.as_bytes()),
        REQUEST
    );
    assert_eq!(request_header_json(Alg::HS256, ORG, TOKEN), HEADER.as_bytes());
    let req = UnverifiedRequest::parse(REQUEST.as_bytes()).unwrap();
    assert!(req.verify(&key()));
    assert_eq!(req.token().as_deref(), Some(TOKEN));
    assert_eq!(req.org_aliases(), vec![ORG.to_string()]);
    assert_eq!(req.req_body().unwrap()["userName"], "alice");
}

#[test]
fn response_vector_reproduces() {
    let payload = r#"{"responseBody":{"errorId":10564,"errorMsg":"User does not exist","uniqueMsgId":"webs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","clientData":null}}"#;
    assert_eq!(
        sign_compact(Alg::HS256, &key(), HEADER.as_bytes(), payload.as_bytes()),
        RESPONSE
    );
    // The typed envelope serialises to exactly that payload.
    let env = envelope(
        Empty {},
        10564,
        Some("User does not exist".into()),
        "webs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        serde_json::Value::Null,
    );
    assert_eq!(serde_json::to_string(&env).unwrap(), payload);
    // So does the server's builder from pre-serialised fields, with none or empty ones.
    for none in ["", "{}", " { } "] {
        let built = twofold_proto::response::payload_json(
            none,
            10564,
            "User does not exist",
            "webs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &serde_json::Value::Null,
        );
        assert_eq!(String::from_utf8(built).unwrap(), payload, "{none:?}");
    }
    // What Twofold actually sends carries orgAlias too, and still verifies.
    let ours = sign_response(Alg::HS256, &key(), ORG, TOKEN, &env);
    let (header, body) = twofold_proto::envelope::verify_compact(&ours, &key()).unwrap();
    assert_eq!(header["orgAlias"], ORG);
    assert_eq!(header["org_alias"], ORG);
    assert_eq!(header["token"], TOKEN);
    assert_eq!(body["responseBody"]["errorId"], 10564);
    assert!(response_header_json(Alg::HS256, ORG, TOKEN).len() > HEADER.len());
}

#[test]
fn tampered_request_fails() {
    let mut bytes = REQUEST.as_bytes().to_vec();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    if let Ok(req) = UnverifiedRequest::parse(&bytes) {
        assert!(!req.verify(&key()));
    }
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(body in "[a-zA-Z0-9 ]{0,40}", alg in 0..3usize) {
        let alg = [Alg::HS256, Alg::HS384, Alg::HS512][alg];
        let payload = serde_json::json!({"reqBody": {"userName": body}}).to_string();
        let jws = sign_compact(alg, &key(), format!(r#"{{"alg":"{}"}}"#, alg.name()).as_bytes(), payload.as_bytes());
        let req = UnverifiedRequest::parse(jws.as_bytes()).unwrap();
        prop_assert!(req.verify(&key()));
        prop_assert_eq!(req.req_body().unwrap()["userName"].as_str().unwrap(), body.as_str());
    }

    #[test]
    fn any_flipped_byte_fails(pos in 0usize..REQUEST.len(), to in proptest::char::range('-', 'z')) {
        let mut text: Vec<char> = REQUEST.chars().collect();
        prop_assume!(text[pos] != to);
        text[pos] = to;
        let s: String = text.into_iter().collect();
        if let Ok(req) = UnverifiedRequest::parse(s.as_bytes()) {
            // A flip inside the last base64 char may only change padding bits, which decode
            // to the same bytes; then the request is still the same request.
            if req.verify(&key()) {
                prop_assert_eq!(req.req_body().unwrap()["userName"].as_str(), Some("alice"));
            }
        }
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = UnverifiedRequest::parse(&bytes);
    }
}

/// Any JSON value serde_json can produce (bounded depth), for the payload property.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// The server's spliced payload is the same JSON as the typed envelope's.
    #[test]
    fn spliced_payload_equals_the_envelope(
        fields in proptest::collection::btree_map("[a-zA-Z]{1,10}", json_value(), 0..6),
        error_id in any::<u32>(),
        message in ".{0,30}",
        client_data in json_value(),
    ) {
        let fields: serde_json::Map<String, serde_json::Value> = fields.into_iter().collect();
        let unique = "webs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let typed = envelope(fields.clone(), error_id, Some(message.clone()), unique.into(), client_data.clone());
        let spliced = twofold_proto::response::payload_json(
            &serde_json::to_string(&fields).unwrap(),
            error_id,
            &message,
            unique,
            &client_data,
        );
        let spliced: serde_json::Value = serde_json::from_slice(&spliced).unwrap();
        prop_assert_eq!(spliced, serde_json::to_value(&typed).unwrap());
    }
}
